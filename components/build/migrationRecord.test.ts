import { readMigrationRecord } from "../model/migration/phases";
import { migrationRecordConfigMap } from "./migrationRecord";

const inputs = { name: "synergyflow-db-migration", namespace: "synergyflow", labels: { "synergyflow-db/stack": "prod" } };

describe("the migration record", () => {
    test("a fixed name in the backend's namespace, the phase, and the copy's verification when there is one", () => {
        expect(migrationRecordConfigMap({ ...inputs, phase: "cutover" })).toEqual({ metadata: inputs, data: { phase: "cutover" } });
        const copyResult = JSON.stringify({ checksumsEqual: true, tables: 4, rows: 352000 });
        expect(migrationRecordConfigMap({ ...inputs, phase: "copy", copyResult }).data).toEqual({ phase: "copy", copyResult });
    });

    test("is what the next run's preflight reads back", () => {
        const copyResult = JSON.stringify({ checksumsEqual: true, tables: 4, rows: 352000 });
        const data = migrationRecordConfigMap({ ...inputs, phase: "copy", copyResult }).data as Record<string, string>;
        expect(readMigrationRecord(data)).toEqual({ phase: "copy", copyResult: { checksumsEqual: true, tables: 4, rows: 352000 } });
    });
});
