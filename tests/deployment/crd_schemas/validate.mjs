// Validates Kubernetes custom resources against the schemas of their CRDs, offline.
//
//   node validate.mjs MANIFEST...
//
// Every YAML document is validated by its apiVersion and kind, and reported on one line:
// `ok <path> <kind>/<name>` or `invalid <path> <kind>/<name>: <reason>`. Exits 1 if any
// document is invalid or of a kind with no schema here (or a path holds no document), 2 on a
// usage error.
//
// The schemas are the ajv validators of @kubernetes-models/argo-cd,
// @kubernetes-models/argo-workflows and @kubernetes-models/argo-rollouts, generated from Argo
// CD v3's, Argo Workflows v4's and Argo Rollouts' API types (the types their CRDs are generated
// from). They check types, required fields and formats; unknown fields are not rejected (the
// generated schemas allow them), nor are strings outside an enumeration (a Rollout's
// workloadRef.scaleDown): tests/deployment/test_canary_analysis.py checks those.
import { readFileSync } from "node:fs";
import { Application } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1";
import { AnalysisTemplate, Rollout } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1";
import { CronWorkflow, Workflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1";
import { parseAllDocuments } from "yaml";

// The generated WorkflowSpec schema departs from what Argo decodes in two places; the spec is
// reshaped as Argo's own decoder reads it, so that a valid one passes and only those two spots
// are touched. A Workflow's spec and a CronWorkflow's spec.workflowSpec are the same type, so
// both are reshaped alike:
// - `steps` is a list of lists, but the generator took ParallelSteps' Go struct for its JSON
//   form and expects `{steps: [...]}` (ParallelSteps' custom unmarshaller reads a bare list).
//   A group that is not a list is left as it is, so it still fails.
// - a template's `container` or `script` needs no name: Argo names that container "main".
// Errors inside a step group are therefore reported under `steps/<group>/steps/<index>`.
function asArgoDecodes(resource, ...specPath) {
  const copy = structuredClone(resource);
  const templates = specPath.reduce((node, key) => node?.[key], copy)?.templates;
  for (const template of Array.isArray(templates) ? templates : []) {
    if (template === null || typeof template !== "object") continue;
    if (Array.isArray(template.steps)) {
      template.steps = template.steps.map((group) => (Array.isArray(group) ? { steps: group } : group));
    }
    for (const key of ["container", "script"]) {
      const container = template[key];
      if (container !== null && typeof container === "object" && container.name === undefined) {
        container.name = "main";
      }
    }
  }
  return copy;
}

const MODELS = {
  "argoproj.io/v1alpha1 Application": (document) => new Application(document),
  "argoproj.io/v1alpha1 Workflow": (document) => new Workflow(asArgoDecodes(document, "spec")),
  "argoproj.io/v1alpha1 CronWorkflow": (document) =>
    new CronWorkflow(asArgoDecodes(document, "spec", "workflowSpec")),
  "argoproj.io/v1alpha1 Rollout": (document) => new Rollout(document),
  "argoproj.io/v1alpha1 AnalysisTemplate": (document) => new AnalysisTemplate(document),
};

/** Why `document` is not a valid resource of its kind, or null if it is. */
function problem(document) {
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    return "not a mapping";
  }
  const model = MODELS[`${document.apiVersion} ${document.kind}`];
  if (model === undefined) {
    return `no schema here for apiVersion ${document.apiVersion}, kind ${document.kind}`;
  }
  try {
    model(document).validate();
    return null;
  } catch (error) {
    return error.message;
  }
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error("usage: node validate.mjs MANIFEST...");
  process.exit(2);
}
let failed = false;
for (const path of paths) {
  let documents;
  try {
    documents = parseAllDocuments(readFileSync(path, "utf8"));
  } catch (error) {
    console.log(`invalid ${path} -: ${error.message}`);
    failed = true;
    continue;
  }
  let seen = 0;
  for (const parsed of documents) {
    let reason;
    let data;
    if (parsed.errors.length > 0) {
      // The first line of each: the rest is a code frame, and the report is one line a document.
      reason = parsed.errors.map((error) => error.message.split("\n")[0]).join("; ");
    } else {
      data = parsed.toJS();
      if (data === null || data === undefined) continue; // empty, as after a trailing `---`
      reason = problem(data);
    }
    seen += 1;
    const name = data?.metadata?.name ?? data?.metadata?.generateName ?? "-";
    const resource = `${data?.kind ?? "-"}/${name}`;
    console.log(reason === null ? `ok ${path} ${resource}` : `invalid ${path} ${resource}: ${reason}`);
    failed ||= reason !== null;
  }
  if (seen === 0) {
    // Nothing validated is not a pass: the path is likely not the manifest meant.
    console.log(`invalid ${path} -: no documents`);
    failed = true;
  }
}
process.exitCode = failed ? 1 : 0; // not process.exit(): it could cut off piped output
