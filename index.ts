// synergyflow-db: onboards SynergyFlow onto the shared CloudNativePG cluster. See README.md.
import * as pulumi from "@pulumi/pulumi";
import { loadStackConfig, runSynergyflowDb, stackLiveReader } from "./components/program";

// The engine's inputs, read here and nowhere else: the stack's config and its name.
export = async () => {
    const config = loadStackConfig(pulumi.runtime.allConfig());
    return runSynergyflowDb(config, stackLiveReader(config), pulumi.getStack());
};
