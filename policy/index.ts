// The policy pack: `pulumi preview --policy-pack policy` (or `up`). The policies live in policies.ts.
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("synergyflow-db-policies", { policies });
