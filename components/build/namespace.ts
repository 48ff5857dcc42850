// The backend's namespace in the apps cluster, built pure; apps/namespace.ts registers it as a Namespace
// (`create`) or a NamespacePatch (`patch`: it exists already, the program only applies its labels).
import { STACK_LABEL } from "../model/labels";

export interface NamespaceInputs {
    name: string;
    mode: "create" | "patch";
    podSecurityLevel: "baseline" | "restricted";
    labels: Record<string, string>;
}

export function namespaceManifest(inputs: NamespaceInputs): { metadata: { name: string; labels: Record<string, string> } } {
    const labels: Record<string, string> = {
        ...inputs.labels,
        "pod-security.kubernetes.io/enforce": inputs.podSecurityLevel,
        "pod-security.kubernetes.io/warn": "restricted",
    };
    // A namespace the program only patches is not its own: it must not carry the ownership label.
    if (inputs.mode === "patch") delete labels[STACK_LABEL];
    return { metadata: { name: inputs.name, labels } };
}
