// The shape of components/, checked rather than described: pure code (model/, build/) loads no Pulumi package and
// nothing that registers resources or talks to a cluster; model/ does not depend on the builders; the components
// receive what they emit, never the whole StackConfig; and no file imports itself back through others (no cycle,
// type imports included: a cycle of types is still a knot).
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

const COMPONENTS = path.join(__dirname, "..", "components");

interface ImportEdge {
    from: string;
    /** A path under components/ (without .ts), or a package name. */
    to: string;
    typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) return sourceFiles(full);
        return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [full] : [];
    });
}

/** Every import and re-export of a file, as TypeScript's own parser reads them. */
function importsOf(file: string): ImportEdge[] {
    const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const from = path.relative(COMPONENTS, file).replace(/\.ts$/, "");
    const edges: ImportEdge[] = [];
    const add = (specifier: string, typeOnly: boolean) => {
        const to = specifier.startsWith(".") ? path.relative(COMPONENTS, path.resolve(path.dirname(file), specifier)) : specifier;
        edges.push({ from, to, typeOnly });
    };
    const visit = (node: ts.Node) => {
        if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
            const clause = node.importClause;
            const typeOnly = Boolean(clause?.isTypeOnly) || Boolean(clause && !clause.name && clause.namedBindings && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.every((e) => e.isTypeOnly));
            add(node.moduleSpecifier.text, typeOnly);
        } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
            add(node.moduleSpecifier.text, node.isTypeOnly);
        } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0]!) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === "require"))) {
            add((node.arguments[0] as ts.StringLiteral).text, false);
        }
        ts.forEachChild(node, visit);
    };
    visit(source);
    return edges;
}

const files = sourceFiles(COMPONENTS);
const edges = files.flatMap(importsOf);
const inFolder = (name: string, folder: string) => name.startsWith(`${folder}/`);
/** What registers resources or reaches a cluster: never a dependency of pure code. */
const impure = (to: string) => ["infra", "apps", "resources", "live"].some((folder) => inFolder(to, folder)) || ["program", "providers", "wiring", "preflight"].includes(to);

describe("the shape of components/", () => {
    test("the parser sees the imports (a guard against a check that passes on nothing)", () => {
        expect(files.length).toBeGreaterThan(40);
        expect(edges.some((e) => e.from === "program" && e.to === "@pulumi/pulumi" && !e.typeOnly)).toBe(true);
        expect(edges.some((e) => e.from === "model/budget" && e.to === "model/config")).toBe(true);
    });

    test("model/ and build/ load no Pulumi package (type imports are erased) and nothing that registers resources or reads a cluster", () => {
        const pure = edges.filter((e) => inFolder(e.from, "model") || inFolder(e.from, "build"));
        expect(pure.filter((e) => (e.to.startsWith("@pulumi/") && !e.typeOnly) || impure(e.to)).map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
    });

    test("model/ does not depend on the builders", () => {
        expect(edges.filter((e) => inFolder(e.from, "model") && inFolder(e.to, "build")).map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
    });

    test("the registering components never name StackConfig: they take build/*Inputs, or a Pick of the blocks they read", () => {
        const registering = files.filter((file) => ["infra", "apps", "resources"].some((folder) => inFolder(path.relative(COMPONENTS, file), folder)));
        expect(registering.length).toBeGreaterThan(10);
        expect(registering.filter((file) => /\bStackConfig\b/.test(fs.readFileSync(file, "utf8"))).map((file) => path.relative(COMPONENTS, file))).toEqual([]);
    });

    test("no import cycle, type imports included", () => {
        const graph = new Map<string, string[]>();
        for (const e of edges.filter((edge) => !edge.to.startsWith("@") && !edge.to.startsWith("node:") && !/^[a-z]/.test(edge.to) || edge.to.includes("/"))) {
            if (!fs.existsSync(path.join(COMPONENTS, `${e.to}.ts`))) continue;
            graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
        }
        const cycles: string[] = [];
        const state = new Map<string, "open" | "done">();
        const walk = (node: string, trail: string[]) => {
            if (state.get(node) === "done") return;
            if (state.get(node) === "open") {
                cycles.push([...trail.slice(trail.indexOf(node)), node].join(" -> "));
                return;
            }
            state.set(node, "open");
            for (const next of graph.get(node) ?? []) walk(next, [...trail, node]);
            state.set(node, "done");
        };
        for (const node of graph.keys()) walk(node, []);
        expect(cycles).toEqual([]);
    });
});
