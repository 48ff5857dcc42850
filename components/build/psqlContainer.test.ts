import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { credentialExports, execWithCredentials } from "./psqlContainer";

describe("credentials exported from mounted files", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credentials-"));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, "username"), "synergyflow_app_a");
    fs.writeFileSync(path.join(dir, "password"), "pa ss'word$1");
    const files = { volume: "c", dir, secretName: "s", usernameKey: "username", passwordKey: "password" };

    test("the command runs with PGUSER/PGPASSWORD from the files (values never on the command line)", () => {
        const command = execWithCredentials(credentialExports(files), ["sh", "-c", 'printf "%s|%s" "$PGUSER" "$PGPASSWORD"']);
        expect(command.join(" ")).not.toContain("pa ss");
        expect(execFileSync(command[0]!, command.slice(1), { encoding: "utf8", env: { PATH: process.env.PATH } })).toBe("synergyflow_app_a|pa ss'word$1");
    });

    test("a missing file stops the container before the client starts", () => {
        const command = execWithCredentials(credentialExports({ ...files, dir: path.join(dir, "absent") }), ["sh", "-c", "echo started"]);
        expect(() => execFileSync(command[0]!, command.slice(1), { encoding: "utf8", stdio: "pipe" })).toThrow();
    });

    test("an empty file stops it too (an empty password is no credential)", () => {
        fs.writeFileSync(path.join(dir, "empty"), "");
        const command = execWithCredentials({ PGPASSWORD: path.join(dir, "empty") }, ["sh", "-c", "echo started"]);
        expect(() => execFileSync(command[0]!, command.slice(1), { encoding: "utf8", stdio: "pipe" })).toThrow();
    });

    test("no text the policy pack's secret check matches (password=), only paths", () => {
        expect(execWithCredentials(credentialExports(files), ["psql"]).join(" ")).not.toMatch(/password=|--password/i);
    });

    test("only plain names and paths are put in the script", () => {
        expect(() => execWithCredentials({ "PGUSER;rm": "/x" }, ["psql"])).toThrow(/not a plain variable name and path/);
        expect(() => execWithCredentials({ PGUSER: "/x $(id)" }, ["psql"])).toThrow(/not a plain variable name and path/);
    });
});
