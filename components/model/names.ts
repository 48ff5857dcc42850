// Names of the objects the program declares that others (the preflight, the evidence waits) must find by name.

/** The Database object's name: the cluster's and the database's, as Kubernetes spells names. */
export const databaseObjectName = (clusterName: string, databaseName: string) => `${clusterName}-${databaseName.replace(/_/g, "-")}`;

/** A DatabaseRole's object name: the role's, as Kubernetes spells names. */
export const databaseRoleObjectName = (roleName: string) => roleName.replace(/_/g, "-");
