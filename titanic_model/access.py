"""Who may do what on the tracking server: one user per role, least privilege.

``python -m titanic_model.access``, as the admin of a server running MLflow's basic-auth app
(``MLFLOW_TRACKING_URI``, ``MLFLOW_TRACKING_USERNAME``, ``MLFLOW_TRACKING_PASSWORD``), creates
or updates the users ``training``, ``serving`` and ``monitoring`` and sets their permissions to
exactly :data:`ROLES`: a grant of another level is replaced, any other grant or role a user
holds is revoked, and a user made an admin is made a plain user again. Idempotent: run twice,
the same users and grants. A password comes from ``TITANIC_<ROLE>_PASSWORD`` (set on the user,
new or existing); without it an existing user keeps its password and a new one gets a
generated password, printed once.

The registered model ``titanic`` and the experiments ``titanic`` (training's) and
``titanic-monitoring`` are created here, as the admin, when missing: MLflow gives MANAGE on a
resource to whoever creates it, and no role should own them (MANAGE on ``titanic`` would let
training delete versions and aliases). No other user may create experiments or registered
models (the tracking server's filter keeps those routes for the admin), but for a gate's lock,
which the gate creates and deletes in seconds and whose grant is spared here.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.server import get_app_client
from mlflow.server.auth.routes import LIST_USER_PERMISSIONS
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request, verify_rest_response

from titanic_model.credentials import refusal_line
from titanic_model.names import (
    MLFLOW_EXPERIMENT_KIND_TAG,
    MODEL_DEVELOPMENT_KIND,
    MODEL_NAME,
    MONITORING_EXPERIMENT,
    TRAINING_EXPERIMENT,
    gated_model,
)

#: Stand for the ids of :data:`~titanic_model.names.TRAINING_EXPERIMENT` and
#: :data:`~titanic_model.names.MONITORING_EXPERIMENT` in :data:`ROLES`.
TRAINING_EXPERIMENT_ID = "<training experiment>"
MONITORING_EXPERIMENT_ID = "<monitoring experiment>"
# The per-user role MLflow keeps a user's own grants in; any other role was assigned.
_OWN_ROLE = re.compile(r"__user_\d+__")


@dataclass(frozen=True)
class Grant:
    """One permission of a user: ``permission`` on ``resource_type`` ``resource_id``."""

    resource_type: str
    resource_id: str
    permission: str


# A registered version's files live under its run's experiment, and the server authorizes them
# by that experiment: loading `titanic` takes READ on the experiment that trained the version.
# Every training run writes into the one training experiment (the Argo workflow's too).
READ_TRAINING = Grant("experiment", TRAINING_EXPERIMENT_ID, "READ")

#: Each role's permissions, all of them (the server's default is NO_PERMISSIONS).
ROLES: dict[str, tuple[Grant, ...]] = {
    # Runs in the training experiment; registers versions of titanic, writes their model
    # cards and moves champion and challenger (all need EDIT on the model); reads the
    # comparisons of champion and challenger that `promote` acts on.
    "training": (
        Grant("experiment", TRAINING_EXPERIMENT_ID, "EDIT"),
        Grant("experiment", MONITORING_EXPERIMENT_ID, "READ"),
        Grant("registered_model", MODEL_NAME, "EDIT"),
    ),
    # Loads and serves titanic's versions; writes nothing.
    "serving": (READ_TRAINING, Grant("registered_model", MODEL_NAME, "READ")),
    # Logs its runs in its own experiment and tags the versions it assessed: EDIT on the
    # version tier with only READ on the model itself, which is what registering a version or
    # moving an alias would need more of. The version tier would also let it rewrite a
    # version's description; the server's filter asks EDIT on the model for that.
    "monitoring": (
        READ_TRAINING,
        Grant("experiment", MONITORING_EXPERIMENT_ID, "EDIT"),
        Grant("registered_model", MODEL_NAME, "READ"),
        Grant("registered_model_version", "*", "EDIT"),
    ),
}


def password_variable(role: str) -> str:
    """The environment variable with ``role``'s password (``TITANIC_TRAINING_PASSWORD``…)."""
    return f"TITANIC_{role.upper()}_PASSWORD"


def _is(error: MlflowException, code: int) -> bool:
    return error.error_code == ErrorCode.Name(code)


def _shared_resources(client: MlflowClient) -> dict[str, str]:
    """Create ``titanic`` and the two experiments if missing; their ids, by placeholder."""
    try:
        client.create_registered_model(MODEL_NAME)
    except MlflowException as error:
        if not _is(error, RESOURCE_ALREADY_EXISTS):
            raise
    # Of the model-development kind: MLflow's UI opens them on their runs, not on GenAI traces.
    kind = {MLFLOW_EXPERIMENT_KIND_TAG: MODEL_DEVELOPMENT_KIND}
    ids = {}
    for placeholder, name in [
        (TRAINING_EXPERIMENT_ID, TRAINING_EXPERIMENT),
        (MONITORING_EXPERIMENT_ID, MONITORING_EXPERIMENT),
    ]:
        found = client.get_experiment_by_name(name)
        if found is None:
            ids[placeholder] = client.create_experiment(name, tags=kind)
        else:
            ids[placeholder] = found.experiment_id
    return ids


def _set_user(auth, role: str, password: str | None) -> str | None:
    """Create or update ``role``'s user, never an admin; the password when one was generated.

    An admin may do anything, whatever its grants: a role's user made one by hand is made a
    plain user again.
    """
    try:
        user = auth.get_user(role)
    except MlflowException as error:
        if not _is(error, RESOURCE_DOES_NOT_EXIST):
            raise
        generated = None if password else secrets.token_urlsafe(24)
        auth.create_user(role, password or generated)
        return generated
    if user.is_admin:
        auth.update_user_admin(role, False)
    if password:
        auth.update_user_password(role, password)
    return None


def _revoke_the_rest(auth, tracking_uri: str, username: str, grants: tuple[Grant, ...]) -> None:
    """Take from ``username`` every grant and assigned role that is not one of ``grants``."""
    response = http_request(
        get_default_host_creds(tracking_uri),
        LIST_USER_PERMISSIONS,
        "GET",
        params={"username": username},
    )
    verify_rest_response(response, LIST_USER_PERMISSIONS)
    wanted = {(grant.resource_type, grant.resource_id) for grant in grants}
    assigned = set()
    for row in response.json()["permissions"]:
        granted = (row["resource_type"], row["resource_pattern"])
        if not _OWN_ROLE.fullmatch(row["role_name"]):
            assigned.add(row["role_id"])
        elif granted not in wanted and not _held_lock(*granted):
            auth.revoke_user_permission(username, *granted)
    for role_id in assigned:
        auth.unassign_role(username, role_id)


def _held_lock(resource_type: str, resource_id: str) -> bool:
    """A gate's lock, which its creator holds for seconds and MLflow forgets with it."""
    return resource_type == "registered_model" and gated_model(resource_id) is not None


def _set_grant(auth, username: str, grant: Grant) -> None:
    """Give ``username`` exactly ``grant``'s permission on its resource."""
    arguments = (username, grant.resource_type, grant.resource_id)
    try:
        auth.grant_user_permission(*arguments, grant.permission)
    except MlflowException as error:
        if not _is(error, RESOURCE_ALREADY_EXISTS):
            raise
        # A grant of another level (MANAGE for a creator, an older plan): replaced.
        auth.revoke_user_permission(*arguments)
        auth.grant_user_permission(*arguments, grant.permission)


def set_up_access(tracking_uri: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Users and grants of :data:`ROLES` on the server at ``tracking_uri``, as its admin.

    Args:
        tracking_uri: The server, ``http(s)://…``.
        environ: Where ``TITANIC_<ROLE>_PASSWORD`` are read from.

    Returns:
        ``{role: password}`` of the users created with a generated password.
    """
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    auth = get_app_client("basic-auth", tracking_uri=tracking_uri)
    experiment_ids = _shared_resources(client)
    generated = {}
    for role, grants in ROLES.items():
        password = _set_user(auth, role, environ.get(password_variable(role)) or None)
        if password is not None:
            generated[role] = password
        grants = tuple(
            Grant(g.resource_type, experiment_ids.get(g.resource_id, g.resource_id), g.permission)
            for g in grants
        )
        _revoke_the_rest(auth, tracking_uri, role, grants)
        for grant in grants:
            _set_grant(auth, role, grant)
    return generated


def main() -> int:
    """Set up the roles on ``MLFLOW_TRACKING_URI``; 1 after a one-line ``error:``."""
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not tracking_uri.startswith(("http://", "https://")):
        print(
            "error: MLFLOW_TRACKING_URI must be the tracking server's http(s):// address",
            file=sys.stderr,
        )
        return 1
    try:
        generated = set_up_access(tracking_uri, os.environ)
    except MlflowException as error:
        print(refusal_line(error), file=sys.stderr)
        return 1
    for role, password in generated.items():
        print(f"# Generated the password of '{role}': {password_variable(role)}={password}")
    for role, grants in ROLES.items():
        print(
            f"{role}: "
            + ", ".join(f"{g.permission} on {g.resource_type} {g.resource_id}" for g in grants)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
