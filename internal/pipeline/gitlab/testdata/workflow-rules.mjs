// Evaluates a .gitlab-ci.yml's workflow:rules for one set of variables with
// gitlab-ci-local's own rule evaluator: gitlab-ci-local 4.65 lists and runs
// jobs without applying workflow:rules itself.
//
// usage: node workflow-rules.mjs NODE_MODULES_DIR .gitlab-ci.yml VARIABLES_JSON
// prints: the workflow's "when" (on_success, or never when no pipeline starts)
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [modules, file, varsJSON] = process.argv.slice(2);
const require = createRequire(path.join(modules, "noop.js"));
const yaml = require("js-yaml");
const { Utils } = await import(pathToFileURL(path.join(modules, "gitlab-ci-local/src/utils.js")));

const doc = yaml.load(fs.readFileSync(file, "utf8"));
const rules = doc.workflow?.rules ?? [];
const result = Utils.getRulesResult(
	{ rules, variables: JSON.parse(varsJSON), cwd: path.dirname(file), argv: { evaluateRuleChanges: false } },
	{ branches: { default: "main" } },
);
console.log(result.when);
