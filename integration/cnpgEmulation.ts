// What CNPG does for the tenant, as SQL: its managed-role reconciler creates each role with the declared
// attributes and the password from the role's Secret; its Database reconciler creates the database with its
// owner and the declared schemas. Pure; the integration tier runs it as the superuser before the program's
// bootstrap SQL.
import type { CnpgRoleFields, DatabaseSpec } from "../components/crds";
import { ident, literal } from "../components/infra/bootstrapSql";

export function roleSql(role: CnpgRoleFields, password: string): string {
    const flag = (on: boolean, name: string) => (on ? name : `NO${name}`);
    return (
        `CREATE ROLE ${ident(role.name)} ${flag(role.login, "LOGIN")} ${flag(role.inherit, "INHERIT")} ${flag(role.superuser, "SUPERUSER")} ` +
        `${flag(role.createdb, "CREATEDB")} ${flag(role.createrole, "CREATEROLE")} ${flag(role.replication, "REPLICATION")} ` +
        `${flag(role.bypassrls, "BYPASSRLS")} CONNECTION LIMIT ${role.connectionLimit} PASSWORD ${literal(password)};`
    );
}

/** Statements for the postgres database, then for the new database (schemas). */
export function databaseSql(spec: Pick<DatabaseSpec, "name" | "owner" | "schemas">): { create: string; schemas: string } {
    return {
        create: `CREATE DATABASE ${ident(spec.name)} OWNER ${ident(spec.owner)};`,
        schemas: spec.schemas.map((s) => `CREATE SCHEMA IF NOT EXISTS ${ident(s.name)} AUTHORIZATION ${ident(s.owner)};`).join("\n"),
    };
}
