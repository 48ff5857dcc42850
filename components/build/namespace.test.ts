import { platformLabels } from "../model/labels";
import { namespaceManifest } from "./namespace";

const labels = platformLabels("synergyflow", "namespace", "prod");

describe("the backend's namespace", () => {
    test("carries the platform labels, its Pod Security level enforced and restricted warned", () => {
        expect(namespaceManifest({ name: "synergyflow", mode: "create", podSecurityLevel: "baseline", labels })).toEqual({
            metadata: {
                name: "synergyflow",
                labels: { ...labels, "pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted" },
            },
        });
    });

    test("created, it is this stack's; patched, it never carries the ownership label", () => {
        expect(namespaceManifest({ name: "synergyflow", mode: "create", podSecurityLevel: "restricted", labels }).metadata.labels["synergyflow-db/stack"]).toBe("prod");
        const patched = namespaceManifest({ name: "synergyflow", mode: "patch", podSecurityLevel: "restricted", labels }).metadata.labels;
        expect(patched["synergyflow-db/stack"]).toBeUndefined();
        expect(patched["pod-security.kubernetes.io/enforce"]).toBe("restricted");
        // The caller's labels are not changed.
        expect(labels["synergyflow-db/stack"]).toBe("prod");
    });
});
