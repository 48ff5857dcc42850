// The preflight: read the live platform, plan, and either refuse with every problem at once or hand the program
// the plan it registers. Runs before any resource is registered, in preview, up and synth alike.
import type { StackConfig } from "./model/config";
import type { LiveReader } from "./model/kubeObject";
import { readLivePlatform } from "./model/preflight/livePlatform";
import { type TenantPlan, PreflightError, planTenant } from "./model/preflight/rules";

export async function runPreflight(config: StackConfig, reader: LiveReader, stack: string): Promise<TenantPlan | undefined> {
    const { plan, problems } = planTenant(config, await readLivePlatform(config, reader, stack));
    if (problems.length > 0) throw new PreflightError(problems);
    return plan;
}
