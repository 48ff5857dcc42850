// What CNPG does for the tenant, as SQL: its managed-role reconciler creates each role with the declared
// attributes, memberships and the password from the role's Secret; its Database reconciler creates the database with its
// owner and the declared schemas. Pure; the integration tier runs it as the superuser before the program's
// bootstrap SQL.
import type { CnpgRoleFields, DatabaseSpec } from "../components/model/crds";
import { CNPG_POOLER_ROLE, ident, literal } from "../components/model/bootstrapSql";

export function roleSql(role: CnpgRoleFields, password: string | undefined): string {
    const flag = (on: boolean, name: string) => (on ? name : `NO${name}`);
    return (
        `CREATE ROLE ${ident(role.name)} ${flag(role.login, "LOGIN")} ${flag(role.inherit, "INHERIT")} ${flag(role.superuser, "SUPERUSER")} ` +
        `${flag(role.createdb, "CREATEDB")} ${flag(role.createrole, "CREATEROLE")} ${flag(role.replication, "REPLICATION")} ` +
        `${flag(role.bypassrls, "BYPASSRLS")} CONNECTION LIMIT ${role.connectionLimit} PASSWORD ${password === undefined ? "NULL" : literal(password)}` +
        `${role.inRoles?.length ? ` IN ROLE ${role.inRoles.map(ident).join(", ")}` : ""};`
    );
}

/** What CNPG runs when the role's password Secret changes (the reload label): the new password, at once. */
export const passwordSql = (role: string, password: string) => `ALTER ROLE ${ident(role)} PASSWORD ${literal(password)};`;

/** Statements for the postgres database, then for the new database (schemas). */
export function databaseSql(spec: Pick<DatabaseSpec, "name" | "owner" | "schemas">): { create: string; schemas: string } {
    return {
        create: `CREATE DATABASE ${ident(spec.name)} OWNER ${ident(spec.owner)};`,
        schemas: spec.schemas.map((s) => `CREATE SCHEMA IF NOT EXISTS ${ident(s.name)} AUTHORIZATION ${ident(s.owner)};`).join("\n"),
    };
}

/**
 * What CNPG 1.27.4's instance manager does for Poolers with operator auth (reconcilePoolers in
 * internal/management/controller/instance_controller.go), per database that allows connections, as the
 * superuser: the first time, it creates the login role and grants it CONNECT on the database it is processing;
 * in every database it creates (once) a SECURITY DEFINER public.user_search(uname) reading pg_shadow, revokes
 * it from PUBLIC and grants EXECUTE to the role. Written from those facts; the password stands in for the TLS
 * client certificate CNPG logs the role in with.
 */
export function poolerIntegrationSql(firstDatabase: boolean, databaseName: string, password: string): string {
    const role = ident(CNPG_POOLER_ROLE);
    const fn = "public.user_search";
    return [
        ...(firstDatabase ? [`CREATE ROLE ${role} WITH LOGIN PASSWORD ${literal(password)};`, `GRANT CONNECT ON DATABASE ${ident(databaseName)} TO ${role};`] : []),
        `CREATE OR REPLACE FUNCTION ${fn}(uname TEXT) RETURNS TABLE (usename name, passwd text) AS 'SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename=$1;' LANGUAGE sql SECURITY DEFINER;`,
        `REVOKE ALL ON FUNCTION ${fn}(text) FROM public;`,
        `GRANT EXECUTE ON FUNCTION ${fn}(text) TO ${role};`,
    ].join("\n");
}
