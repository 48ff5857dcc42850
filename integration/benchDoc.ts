// docs/benchmarks.md holds two sections, one per benchmark mode: host processes (`npm run bench:pooler`,
// integration/bench.ts) and the e2e's nodes (`npm run bench:nodes`, e2e/benchNodes.ts). Each run rewrites its own
// section and keeps the other's.
import * as fs from "node:fs";
import * as path from "node:path";

export type BenchMode = "host" | "nodes";

const FILE = path.join(__dirname, "..", "docs", "benchmarks.md");
const MODES: BenchMode[] = ["host", "nodes"];
const start = (mode: BenchMode) => `<!-- bench:${mode} -->`;
const end = (mode: BenchMode) => `<!-- /bench:${mode} -->`;

const HEADER = `# Pooler benchmarks

Two modes, each writing its own section: **host processes** (\`npm run bench:pooler\`: PostgreSQL and PgBouncer as
processes on this machine, no cluster) and **on the nodes** (\`npm run bench:nodes\`: the e2e's two real nodes, the
backend's pods on the apps node, the Pooler's pods and the instance on the infra node). Every row says its mode by
the section it is in.
`;

/** The section of `mode` in the file as it is (empty when absent). */
function section(text: string, mode: BenchMode): string {
    const from = text.indexOf(start(mode));
    const to = text.indexOf(end(mode));
    return from >= 0 && to > from ? text.slice(from + start(mode).length, to).trim() : "";
}

export function writeBenchSection(mode: BenchMode, markdown: string): void {
    const current = fs.existsSync(FILE) ? fs.readFileSync(FILE, "utf8") : "";
    const sections = Object.fromEntries(MODES.map((m) => [m, m === mode ? markdown.trim() : section(current, m)]));
    const body = MODES.filter((m) => sections[m]).map((m) => `${start(m)}\n${sections[m]}\n${end(m)}`).join("\n\n");
    fs.writeFileSync(FILE, `${HEADER}\n${body}\n`);
}
