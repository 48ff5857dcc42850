// The CRDs' OpenAPI v3 schemas (with the API server's structural-schema strictness: unknown fields are
// rejected) and their x-kubernetes-validations CEL rules, read from the CRD files in ../shared/crds.
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv, { type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import YAML from "yaml";
import { type KubeObject, type Problem, describeObject } from "./types";

type Schema = Record<string, any>;

/** The folder holding cnpg/ and eso/ CRDs: SYNERGYFLOW_CRDS, else ../shared/crds beside the repo. */
export function crdDirectory(): string {
    return process.env["SYNERGYFLOW_CRDS"] ?? path.join(__dirname, "..", "..", "shared", "crds");
}

export interface CrdSchemaSet {
    /** apiVersion/kind -> the version's openAPIV3Schema */
    schemas: Map<string, Schema>;
    files: string[];
}

export function loadCrdSchemas(directory = crdDirectory()): CrdSchemaSet {
    if (!fs.existsSync(directory)) throw new Error(`CRD folder ${directory} does not exist (set SYNERGYFLOW_CRDS)`);
    const files = fs
        .readdirSync(directory, { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".yaml"))
        .map((f) => path.join(directory, f));
    const schemas = new Map<string, Schema>();
    for (const file of files) {
        const crd = YAML.parse(fs.readFileSync(file, "utf8"));
        if (crd?.kind !== "CustomResourceDefinition") continue;
        for (const version of crd.spec.versions) {
            if (version.served) schemas.set(`${crd.spec.group}/${version.name}/${crd.spec.names.kind}`, version.schema.openAPIV3Schema);
        }
    }
    if (schemas.size === 0) throw new Error(`no CRDs found under ${directory}`);
    return { schemas, files };
}

/** Unknown fields are errors (server-side apply validates fields strictly) unless the schema preserves them. */
function strictify(schema: Schema, isRoot = true): Schema {
    const copy: Schema = Array.isArray(schema) ? [...schema] : { ...schema };
    for (const key of ["properties", "patternProperties"]) {
        if (copy[key]) copy[key] = Object.fromEntries(Object.entries(copy[key]).map(([k, v]) => [k, strictify(v as Schema, false)]));
    }
    for (const key of ["items", "additionalProperties", "not"]) {
        if (copy[key] && typeof copy[key] === "object") copy[key] = strictify(copy[key], false);
    }
    for (const key of ["allOf", "anyOf", "oneOf"]) {
        if (Array.isArray(copy[key])) copy[key] = copy[key].map((s: Schema) => strictify(s, false));
    }
    if (copy["properties"] && copy["additionalProperties"] === undefined && !copy["x-kubernetes-preserve-unknown-fields"]) {
        copy["additionalProperties"] = false;
    }
    // apiVersion/kind/metadata are validated by the API server itself.
    if (isRoot && copy["properties"]) copy["properties"] = { ...copy["properties"], metadata: { type: "object" } };
    return copy;
}

/**
 * CRD patterns are Go (RE2) regular expressions, which may carry inline flags such as `^(?i)...` (the Prometheus
 * Operator's CRDs do, at the pattern's start); JavaScript takes those as flags of the whole RegExp.
 */
function goRegExp(pattern: string, flags: string): RegExp {
    let extra = "";
    const stripped = pattern.replace(/\(\?([ims]+)\)/g, (_m, inline: string) => {
        extra += [...inline].filter((f) => !flags.includes(f) && !extra.includes(f)).join("");
        return "";
    });
    return new RegExp(stripped, flags + extra);
}
goRegExp.code = "new RegExp";

export class CrdValidator {
    private readonly ajv = new Ajv({ strict: false, allErrors: true, formats: { int32: true, int64: true, byte: true, double: true, float: true }, code: { regExp: goRegExp } });
    private readonly compiled = new Map<string, ValidateFunction>();

    constructor(readonly set: CrdSchemaSet) {
        addFormats(this.ajv);
    }

    handles(object: KubeObject): boolean {
        return this.set.schemas.has(`${object.apiVersion}/${object.kind}`);
    }

    /** OpenAPI v3 problems, then CEL rule violations. */
    validate(object: KubeObject): Problem[] {
        const key = `${object.apiVersion}/${object.kind}`;
        const schema = this.set.schemas.get(key);
        if (!schema) return [];
        let validate = this.compiled.get(key);
        if (!validate) {
            validate = this.ajv.compile(strictify(schema));
            this.compiled.set(key, validate);
        }
        const problems: Problem[] = [];
        if (!validate(object)) {
            for (const error of validate.errors ?? []) {
                const extra = error.keyword === "additionalProperties" ? ` (unknown field "${(error.params as { additionalProperty: string }).additionalProperty}")` : "";
                problems.push({ object: describeObject(object), check: "openapi", message: `${error.instancePath || "/"} ${error.message}${extra}` });
            }
        }
        problems.push(...celProblems(schema, object, "").map((message) => ({ object: describeObject(object), check: "cel" as const, message })));
        return problems;
    }
}

// cel-js ships ESM only; Node >= 22 loads it through require() (this module runs in plain Node, not jest).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const cel = () => require("@marcbachmann/cel-js") as { evaluate(expression: string, context: Record<string, unknown>): unknown };

/** Evaluates every x-kubernetes-validations rule that applies to the data (transition rules need an old object). */
export function celProblems(schema: Schema, data: unknown, pointer: string): string[] {
    if (data === undefined || data === null) return [];
    const problems: string[] = [];
    for (const rule of (schema["x-kubernetes-validations"] ?? []) as { rule: string; message?: string }[]) {
        if (rule.rule.includes("oldSelf")) continue;
        let ok: unknown;
        try {
            ok = cel().evaluate(rule.rule, { self: data });
        } catch (error) {
            problems.push(`${pointer || "/"}: CEL rule ${JSON.stringify(rule.rule)} could not be evaluated: ${(error as Error).message}`);
            continue;
        }
        if (ok !== true) problems.push(`${pointer || "/"}: ${rule.message ?? "CEL rule failed"} (rule: ${rule.rule})`);
    }
    if (schema["properties"] && typeof data === "object" && !Array.isArray(data)) {
        for (const [key, sub] of Object.entries(schema["properties"] as Record<string, Schema>)) {
            problems.push(...celProblems(sub, (data as Record<string, unknown>)[key], `${pointer}/${key}`));
        }
    }
    if (schema["items"] && Array.isArray(data)) data.forEach((item, i) => problems.push(...celProblems(schema["items"], item, `${pointer}/${i}`)));
    if (schema["additionalProperties"] && typeof schema["additionalProperties"] === "object" && typeof data === "object" && !Array.isArray(data)) {
        for (const [key, value] of Object.entries(data as Record<string, unknown>)) problems.push(...celProblems(schema["additionalProperties"], value, `${pointer}/${key}`));
    }
    return problems;
}
