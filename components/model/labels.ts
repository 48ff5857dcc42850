// The platform's label convention (app.kubernetes.io/{name,component,part-of}) plus the label that marks an
// object as this stack's: the preflight treats a live object carrying it as ours, anything else as a conflict.
export const STACK_LABEL = "synergyflow-db/stack";

export function platformLabels(appName: string, component: string, stack: string): Record<string, string> {
    return {
        "app.kubernetes.io/name": appName,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": appName,
        "app.kubernetes.io/managed-by": "pulumi",
        [STACK_LABEL]: stack,
    };
}
