// Security contexts that satisfy Pod Security "restricted" (and therefore "baseline").
import type * as k8s from "@pulumi/kubernetes";

export function restrictedPodSecurityContext(uid: number): k8s.types.input.core.v1.PodSecurityContext {
    return { runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, fsGroup: uid, seccompProfile: { type: "RuntimeDefault" } };
}

export const restrictedContainerSecurityContext: k8s.types.input.core.v1.SecurityContext = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
};

/** A Job's pod that runs once, without the API token, as `uid` under the restricted profile. */
export function restrictedJobPod(uid: number, spec: k8s.types.input.core.v1.PodSpec): k8s.types.input.core.v1.PodSpec {
    return { restartPolicy: "Never", automountServiceAccountToken: false, securityContext: restrictedPodSecurityContext(uid), ...spec };
}
