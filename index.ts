// synergyflow-db: onboards SynergyFlow onto the shared CloudNativePG cluster. See README.md.
import { loadStackConfig, synergyflowDb } from "./components/program";

export = synergyflowDb(loadStackConfig());
