// The migration's record on the apps cluster, built pure (apps/appsSide.ts registers it): the phase this run
// leaves, and the copy's verification once its Job reported one. The next run's preflight reads it
// (model/migration/phases.ts readMigrationRecord).
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import type { MigrationPhase } from "../model/migration/phases";

interface MigrationRecordInputs {
    /** migrationRecordName(config): a fixed name the preflight finds it by. */
    name: string;
    namespace: string;
    labels: Record<string, string>;
    phase: MigrationPhase;
    /** The copy Job's result as JSON (only the copy phase reports one). */
    copyResult?: Input<string>;
}

export function migrationRecordConfigMap(inputs: MigrationRecordInputs): k8s.types.input.core.v1.ConfigMap {
    return {
        metadata: { name: inputs.name, namespace: inputs.namespace, labels: inputs.labels },
        data: { phase: inputs.phase, ...(inputs.copyResult ? { copyResult: inputs.copyResult } : {}) },
    };
}
