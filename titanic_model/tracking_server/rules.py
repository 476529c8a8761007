r"""What the tracking server answers, and what it refuses before MLflow sees a request: pure rules.

MLflow 3.17's permission checks and its handlers do not always read a request the same way:
a check may read ``run_uuid`` where the handler acts on ``runId``, or the query string where
the handler parses a body sent as ``text/plain``. So the filter in front of MLflow refuses a
request unless the object it names, and the route it calls, are beyond doubt:

- **routes**: only :data:`ROUTES` (the project's jobs, its servers and MLflow's UI use no
  other), under both API prefixes; the rest get 403, except for the admin;
- **one name per object**: a request naming a run, experiment, registered model, version,
  alias, logged model or artifact path in more than one place (any spelling MLflow accepts,
  in the query string, the body or the path) is refused unless all agree;
- **bodies**: a body on an API route must be a JSON object sent as ``application/json``, with
  no key twice; a ``GET`` takes none;
- **artifact paths**: relative, without ``.``/``..``/empty segments, ``%``, ``\``, ``:`` or
  control characters; the proxy's start with an experiment id;
- **model-version sources**: a logged model, a run or the run's proxied artifacts
  (:data:`MODEL_VERSION_SOURCE_REGEX`, which MLflow itself also enforces, for the admin too);
  caller-chosen artifact locations are out of reach because creating experiments is the
  admin's alone;
- **model cards**: a version's description is rewritten only by a user who may update its
  registered model (MLflow asks only for the version tier, which monitoring holds for tags);
- **the gate's lock**: the one registered model a caller other than the admin may create or
  delete is a gate's lock (:func:`~titanic_model.names.gate_lock_model`), by a user who may
  update the model it gates.

:func:`judge` takes what the app read from the request and who is calling; it returns a
:class:`Refusal`, a :class:`Needed` permission for the app to ask MLflow about, or None.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum, auto
from urllib.parse import parse_qsl

from titanic_model.names import gated_model


class Kind(Enum):
    """What a route carries, which decides what is checked."""

    #: No credentials needed: the health check and the UI's static files.
    PUBLIC = auto()
    #: The UI's page: credentials, nothing more.
    PAGE = auto()
    #: MLflow's API: identifiers in the query string, a JSON body or the path.
    API = auto()
    #: ``get-artifact`` downloads: identifiers and an artifact path in the query string.
    FILE = auto()
    #: The artifact proxy's file routes: the path in the URL, raw bytes on upload.
    ARTIFACT = auto()
    #: The artifact proxy's listing: one ``path`` in the query string.
    ARTIFACT_LIST = auto()
    #: What the server offers (MLflow's ``server-info``), answered as :func:`server_info` says.
    INFO = auto()


@dataclass(frozen=True)
class Route:
    """One route the filter answers for: its methods and path, and why it is open.

    Attributes:
        kind: What it carries.
        methods: The methods answered.
        template: The path, ``<name>`` standing for one path segment (``<path>`` for the rest).
        why: Who needs it, for docs/deployment.md's list.
    """

    kind: Kind
    methods: frozenset[str]
    template: str
    why: str

    @property
    def pattern(self) -> re.Pattern[str]:
        """The template as a regular expression with a named group per parameter."""
        parts = re.split(r"<(\w+)>", self.template)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>{'.+' if part == 'path' else '[^/]+'})"
            for i, part in enumerate(parts)
        )
        return re.compile(regex)


_API_PREFIXES = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/")
_ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")

# MLflow's API as the roles and the UI call it: (methods, route after the prefix, who needs it).
_API = (
    ("GET", "experiments/get", "the UI; the jobs (a run's experiment)"),
    ("GET", "experiments/get-by-name", "`mlflow run --experiment-name`, the jobs, the tests"),
    ("GET POST", "experiments/search", "`python -m titanic_model.credentials` (make run)"),
    ("POST", "experiments/set-experiment-tag", "monitor (its experiment's kind, once)"),
    ("POST", "runs/create", "every job's run"),
    ("POST", "runs/update", "every job (status, end time)"),
    ("POST", "runs/log-batch", "every job (parameters, metrics, tags)"),
    ("POST", "runs/set-tag", "every job"),
    ("POST", "runs/log-inputs", "prepare, train, evaluate (datasets)"),
    ("POST", "runs/outputs", "train (its logged model)"),
    ("GET", "runs/get", "the jobs, the servers (a version's run), the UI"),
    ("POST", "runs/search", "evaluate_best, promote (the last comparison), the tests, the UI"),
    ("GET", "metrics/get-history", "the jobs (a run's metrics)"),
    ("GET", "artifacts/list", "the UI (a run's files)"),
    ("POST", "logged-models", "train (logging the model)"),
    ("GET", "logged-models/<model_id>", "loading a version, the UI"),
    ("PATCH", "logged-models/<model_id>", "train (finalizing the logged model)"),
    ("PATCH", "logged-models/<model_id>/tags", "train"),
    ("POST", "logged-models/search", "train, evaluate"),
    ("POST", "registered-models/create", "the gate taking its lock (`<model>-gate-lock` only)"),
    ("DELETE", "registered-models/delete", "the gate releasing its lock (that name only)"),
    ("GET", "registered-models/get", "the jobs, the UI"),
    ("GET", "registered-models/search", "the UI"),
    ("GET", "registered-models/alias", "loading models:/titanic@champion"),
    ("POST", "registered-models/alias", "the gate, promote (moving champion: training)"),
    ("POST", "model-versions/create", "train (registering a version)"),
    ("GET", "model-versions/get", "the jobs, the UI"),
    ("GET", "model-versions/search", "evaluate_best, monitor, the UI"),
    ("GET", "model-versions/get-download-uri", "loading a version"),
    ("PATCH", "model-versions/update", "train (the model card; the model's EDIT is required)"),
    ("POST", "model-versions/set-tag", "train, evaluate, monitor (tags on versions)"),
    ("GET", "users/current", "the UI (who is signed in)"),
)


def _artifact_routes(prefix: str) -> tuple[Route, ...]:
    return (
        Route(
            Kind.ARTIFACT_LIST,
            frozenset({"GET"}),
            prefix + "artifacts",
            "loading a model (listing its files)",
        ),
        Route(
            Kind.ARTIFACT,
            frozenset({"GET"}),
            prefix + "artifacts/<path>",
            "loading a model, monitor (reference data)",
        ),
        Route(
            Kind.ARTIFACT,
            frozenset({"PUT"}),
            prefix + "artifacts/<path>",
            "every job's files (logged through the proxy)",
        ),
    )


#: Every route answered for a caller other than the admin.
ROUTES: tuple[Route, ...] = (
    Route(Kind.PUBLIC, frozenset({"GET"}), "/health", "health checks"),
    Route(Kind.PUBLIC, frozenset({"GET"}), "/static-files/<path>", "the UI's scripts and styles"),
    Route(Kind.PAGE, frozenset({"GET"}), "/", "the UI's page"),
    *(
        Route(Kind.API, frozenset(methods.split()), prefix + route, why)
        for methods, route, why in _API
        for prefix in _API_PREFIXES
    ),
    Route(Kind.API, frozenset({"POST"}), "/graphql", "the UI (a run's page)"),
    *(
        Route(Kind.INFO, frozenset({"GET"}), prefix + "server-info", "MLflow's clients, the UI")
        for prefix in ("/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/")
    ),
    Route(Kind.FILE, frozenset({"GET"}), "/get-artifact", "the UI (a run's file)"),
    Route(Kind.FILE, frozenset({"GET"}), "/model-versions/get-artifact", "the UI (a version)"),
    *(route for prefix in _ARTIFACT_PREFIXES for route in _artifact_routes(prefix)),
)

#: Each object a request may name, with every spelling MLflow accepts for it (a proto field's
#: name; its JSON name, ``runId``, and any other case, ``_`` or ``-`` variant are the same key
#: once normalised by :func:`_normalised`). A group may appear once, or many times alike.
IDENTIFIERS: dict[str, tuple[str, ...]] = {
    "run": ("run_id", "run_uuid"),
    "experiment": ("experiment_id",),
    "experiment name": ("experiment_name",),
    # A registered model's name; on a create, the experiment's or logged model's.
    "name": ("name",),
    "new name": ("new_name",),
    "version": ("version",),
    "alias": ("alias",),
    "logged model": ("model_id",),
    "source run": ("source_run_id",),
    "source": ("source",),
    "artifact path": ("path",),
}

#: A model version's source: its logged model, its run or its run's proxied artifacts, as one
#: absolute path with no host, no ``..``, no ``%``, ``\`` or blank. MLflow checks that the run
#: or logged model named beside it contains it; this keeps every other URI (``s3://``,
#: ``file://``, ``http://``) out, which MLflow would read with the server's own credentials.
#: Set as ``MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX`` too (app.py).
MODEL_VERSION_SOURCE_REGEX = (
    r"^(?!.*\.\.)(?:models|runs|mlflow-artifacts):/[^/%\\\s\x00-\x1f\x7f][^%\\\s\x00-\x1f\x7f]*\Z"
)
#: What ``server-info`` says whatever MLflow would: no multipart or presigned transfers (which
#: would send clients to the bucket itself, outside the proxy and this filter) and no AI
#: gateway (its routes are closed).
SERVER_INFO_OVERRIDES: dict[str, object] = {
    "multipart_uploads_enabled": False,
    "multipart_downloads_enabled": False,
    "presigned_upload_run_id_supported": False,
    "presigned_upload_model_id_supported": False,
    "features_enabled": {"gateway": False},
}
#: The largest request body read to check it (MLflow's own JSON requests are far smaller).
MAX_BODY_BYTES = 16 * 1024 * 1024
# Headers that must come once: MLflow's WSGI bridge joins repeated ones with commas.
_SINGLE_HEADERS = (b"authorization", b"content-type", b"content-length", b"transfer-encoding")
_MAX_SHOWN = 80


@dataclass(frozen=True)
class Request:
    """What the filter reads of a request.

    Attributes:
        method: The HTTP method.
        path: The path as MLflow routes it (percent-decoded once).
        query: The raw query string.
        headers: The headers, names in lower case, in order.
        body: The body (``b""`` without one), or None when it was not read (uploads).
    """

    method: str
    path: str
    query: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes | None


@dataclass(frozen=True)
class Caller:
    """Who is calling: ``name`` None for a request without valid credentials."""

    name: str | None
    is_admin: bool = False


@dataclass(frozen=True)
class Refusal:
    """The answer to a refused request: one JSON line ``{"error_code", "message"}``."""

    status: int
    error_code: str
    message: str

    def body(self) -> bytes:
        """The answer's body."""
        return json.dumps({"error_code": self.error_code, "message": self.message}).encode()


@dataclass(frozen=True)
class Needed:
    """A permission MLflow must confirm before the request goes on (``action`` on a resource)."""

    resource_type: str
    resource_id: str
    action: str


def unauthenticated() -> Refusal:
    """The answer to a request without valid credentials (it never says which part was wrong)."""
    return Refusal(
        401,
        "UNAUTHENTICATED",
        "You are not authenticated: call as a user of this server (HTTP basic auth)",
    )


def forbidden(caller: Caller, method: str, path: str, reason: str) -> Refusal:
    """A 403: ``user 'x' may not call METHOD /path: reason``."""
    return Refusal(
        403, "PERMISSION_DENIED", f"user {caller.name!r} may not call {method} {path}: {reason}"
    )


def _bad(method: str, path: str, reason: str) -> Refusal:
    return Refusal(400, "INVALID_PARAMETER_VALUE", f"{method} {path}: {reason}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def find_route(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    """The route ``method path`` calls, and its path parameters; None if it is not open."""
    for route in ROUTES:
        if method in route.methods and (match := route.pattern.fullmatch(path)):
            return route, match.groupdict()
    return None, {}


def reads_body(route: Route | None, method: str) -> bool:
    """Whether the app must read the body to judge the request (not an upload's bytes)."""
    return route is not None and not (route.kind is Kind.ARTIFACT and method == "PUT")


def _normalised(key: str) -> str:
    return re.sub(r"[^0-9a-z]", "", key.lower())


_GROUP_OF = {_normalised(key): group for group, keys in IDENTIFIERS.items() for key in keys}


class _MalformedError(ValueError):
    """A request the filter cannot read one way only; the message says why."""


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    unique = dict(pairs)
    if len(unique) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _MalformedError(f"the JSON body gives {key!r} twice")
            seen.add(key)
    return unique


def _json_object(body: bytes, content_type: bytes | None) -> dict[str, object]:
    """The body as MLflow's handlers would parse it, when that is beyond doubt."""
    if not body:
        return {}
    mime, _, parameters = (content_type or b"").decode("latin-1").partition(";")
    charset = re.fullmatch(r"\s*(?:charset=\"?utf-8\"?\s*)?", parameters, re.IGNORECASE)
    if mime.strip().lower() != "application/json" or charset is None:
        shown = _shown(content_type.decode("latin-1")) if content_type else "none"
        raise _MalformedError(
            f"a body of type {shown} is refused: send JSON as application/json (UTF-8)"
        )
    try:
        parsed = json.loads(body, object_pairs_hook=_unique_pairs)
    except (ValueError, RecursionError) as error:
        reason = error if isinstance(error, _MalformedError) else "the body is not valid JSON"
        raise _MalformedError(str(reason)) from None
    if not isinstance(parsed, dict):
        raise _MalformedError("the body must be a JSON object")
    return parsed


def _query(raw: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(raw.decode("ascii"), keep_blank_values=True, errors="strict")
    except UnicodeError:
        raise _MalformedError("the query string is not percent-encoded UTF-8") from None


def _identifiers(
    query: list[tuple[str, str]], body: Mapping[str, object], params: Mapping[str, str]
) -> dict[str, str]:
    """Each object the request names, once; raises when it names one twice, differently."""
    seen: dict[str, list[tuple[str, str]]] = {}
    named = [*((k, v, "query") for k, v in query), *((k, v, "body") for k, v in body.items())]
    named += [(k, v, "path") for k, v in params.items()]
    for key, value, where in named:
        group = _GROUP_OF.get(_normalised(key))
        if group is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _MalformedError(f"{key!r} in the {where} must be a string")
        seen.setdefault(group, []).append((f"{key} in the {where}", str(value)))
    for group, spellings in seen.items():
        if len({value for _, value in spellings}) > 1:
            shown = ", ".join(f"{at}={_shown(value)}" for at, value in spellings)
            raise _MalformedError(f"names the {group} more than once, differently ({shown})")
    return {group: spellings[0][1] for group, spellings in seen.items()}


def unsafe_artifact_path(path: str, *, proxied: bool) -> str | None:
    """Why an artifact path is refused, or None.

    Args:
        path: As MLflow receives it, after the URL's own percent-decoding.
        proxied: A path of the artifact proxy, which must start with an experiment id.

    Returns:
        The reason, or None for a safe path.
    """
    if re.search(r"[%\\:\x00-\x1f\x7f]", path):
        return "it holds '%', '\\', ':' or a control character"
    if path.startswith("/"):
        return "it is absolute"
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return "it has an empty, '.' or '..' segment"
    if proxied and not re.fullmatch(r"\d+", path.split("/")[0]):
        return "it does not start with an experiment id"
    return None


def _repeated_header(headers: tuple[tuple[bytes, bytes], ...]) -> str | None:
    names = [name for name, _ in headers]
    return next((n.decode() for n in _SINGLE_HEADERS if names.count(n) > 1), None)


def _header(headers: tuple[tuple[bytes, bytes], ...], name: bytes) -> bytes | None:
    return next((value for key, value in headers if key == name), None)


def _checked(request: Request, route: Route, params: dict[str, str]) -> dict[str, str]:
    """The objects a request on an open route names; raises :class:`_MalformedError`."""
    if request.body is not None and len(request.body) > MAX_BODY_BYTES:
        raise _MalformedError(f"the body is larger than {MAX_BODY_BYTES} bytes")
    if request.method == "GET" and request.body:
        raise _MalformedError("a GET request takes no body")
    query = _query(request.query)
    if route.kind is Kind.ARTIFACT:
        if query:
            raise _MalformedError("the artifact proxy takes no query string here")
        if reason := unsafe_artifact_path(params["path"], proxied=True):
            raise _MalformedError(f"artifact path {_shown(params['path'])} is refused: {reason}")
        return {}
    if route.kind is Kind.ARTIFACT_LIST:
        if [key for key, _ in query] != ["path"]:
            raise _MalformedError("the listing takes one query parameter: path")
        if reason := unsafe_artifact_path(query[0][1], proxied=True):
            raise _MalformedError(f"artifact path {_shown(query[0][1])} is refused: {reason}")
        return {}
    body = _json_object(request.body or b"", _header(request.headers, b"content-type"))
    identifiers = _identifiers(query, body, params)
    path = identifiers.get("artifact path")
    if path and (reason := unsafe_artifact_path(path, proxied=False)):
        raise _MalformedError(f"artifact path {_shown(path)} is refused: {reason}")
    return identifiers


def _registry_rules(
    request: Request, route: Route, identifiers: dict[str, str], caller: Caller
) -> Refusal | Needed | None:
    """What MLflow's own checks leave open on the registry routes: sources, cards, the lock."""
    route_name = route.template.rsplit("/mlflow/", 1)[-1]
    if route_name == "model-versions/create":
        source = identifiers.get("source", "")
        if not re.search(MODEL_VERSION_SOURCE_REGEX, source):
            return _bad(
                request.method,
                request.path,
                f"model version source {_shown(source)} is refused: give the version's logged "
                "model (models:/<model_id>), its run (runs:/<run_id>/<path>) or the run's "
                "proxied artifacts (mlflow-artifacts:/…)",
            )
    if route_name == "model-versions/update" and "name" in identifiers:
        return Needed("registered_model", identifiers["name"], "update")
    if route_name in ("registered-models/create", "registered-models/delete"):
        gated = gated_model(identifiers.get("name", ""))
        if gated is None:
            reason = "the only registered model it may create or delete is a gate's lock"
            return forbidden(caller, request.method, request.path, reason)
        return Needed("registered_model", gated, "update")
    return None


def judge(request: Request, caller: Caller) -> Refusal | Needed | None:
    """Refuse the request, ask for a permission, or let it through to MLflow (None).

    Args:
        request: What the app read of it.
        caller: Who is calling, as MLflow's user store said.

    Returns:
        A :class:`Refusal` to answer, a :class:`Needed` permission the app must confirm with
        MLflow (refusing with 403 otherwise), or None.
    """
    method, path = request.method, request.path
    route, params = find_route(method, path)
    if route is not None and route.kind is Kind.PUBLIC:
        return None
    if header := _repeated_header(request.headers):
        return _bad(method, path, f"the header {header} is given more than once")
    if caller.name is None:
        return unauthenticated()
    if route is None:
        if caller.is_admin:
            return None
        return forbidden(caller, method, path, "not a route this project uses")
    if route.kind in (Kind.PAGE, Kind.INFO):
        return None
    try:
        identifiers = _checked(request, route, params)
    except _MalformedError as error:
        return _bad(method, path, str(error))
    if caller.is_admin:
        return None
    return _registry_rules(request, route, identifiers, caller)


def server_info(answer: bytes) -> bytes:
    """MLflow's ``server-info`` answer as the filter gives it: :data:`SERVER_INFO_OVERRIDES`."""
    return json.dumps({**json.loads(answer), **SERVER_INFO_OVERRIDES}).encode()


def named_routes() -> Iterator[tuple[str, str, str]]:
    """``(methods, path, why)`` of every open route, for the documentation."""
    for route in ROUTES:
        yield " ".join(sorted(route.methods)), route.template, route.why
