// The platform's label convention: app.kubernetes.io/{name,component,part-of}.
export function platformLabels(appName: string, component: string): Record<string, string> {
    return {
        "app.kubernetes.io/name": appName,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": appName,
        "app.kubernetes.io/managed-by": "pulumi",
    };
}
