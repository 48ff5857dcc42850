// One reason a stack cannot go ahead, whoever finds it (the config check, the preflight, the plan): the config key
// to change, what is wrong, the live object concerned (and its owner), and the way out. Both refusals
// (ConfigError, PreflightError) print every problem at once in the same shape.
import { PROJECT } from "./names";

export interface Problem {
    /** The config key: this project's without its prefix (`tenant.connectionLimit`), another namespace's in full (`pulumi:...`). */
    key: string;
    message: string;
    /** The live object concerned, and its owner where one can be told. */
    live?: string;
    remedy?: string;
}

/** The key as a user types it in `pulumi config set`. */
export const qualifiedKey = (key: string) => (key.includes(":") ? key : `${PROJECT}:${key}`);

/** Every problem, one bullet each, with its live object and remedy on their own lines. */
export function describeProblems(problems: Problem[]): string {
    return problems.map((p) => `  - ${qualifiedKey(p.key)}: ${p.message}${p.live ? `\n      live: ${p.live}` : ""}${p.remedy ? `\n      remedy: ${p.remedy}` : ""}`).join("\n");
}

const count = (problems: Problem[]) => `${problems.length} problem${problems.length === 1 ? "" : "s"}`;

/** The stack config itself is wrong: nothing was read from the platform yet. */
export class ConfigError extends Error {
    constructor(readonly problems: Problem[]) {
        super(`invalid ${PROJECT} stack config (${count(problems)}):\n${describeProblems(problems)}`);
        this.name = "ConfigError";
    }
}

/** The live platform, or this run's plan against it, refuses the stack: nothing was created. */
export class PreflightError extends Error {
    constructor(readonly problems: Problem[]) {
        super(`${PROJECT} preflight against the live platform: ${count(problems)}, nothing was created:\n${describeProblems(problems)}`);
        this.name = "PreflightError";
    }
}
