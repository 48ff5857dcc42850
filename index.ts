// synergyflow-db: onboards SynergyFlow onto the shared CloudNativePG cluster. See README.md.
import { loadStackConfig, runSynergyflowDb, stackLiveReader } from "./components/program";

export = async () => {
    const config = loadStackConfig();
    return runSynergyflowDb(config, stackLiveReader(config));
};
