// Input parsers that accept exactly what the target system accepts: addresses as Node's `net` parses them,
// Kubernetes quantities by the API server's grammar, durations by Go's time.ParseDuration (what ESO uses).
import * as net from "node:net";

/** "10.0.0.0/8" -> ok; the reason otherwise. Uses Node's address parser and BlockList for the prefix. */
export function cidrProblem(text: string): string | undefined {
    const slash = text.indexOf("/");
    if (slash < 0) return "must be a CIDR such as 10.42.0.0/16 (address/prefix)";
    const address = text.slice(0, slash);
    const prefixText = text.slice(slash + 1);
    const family = net.isIP(address);
    if (family === 0) return `${JSON.stringify(address)} is not an IPv4 or IPv6 address`;
    const max = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return `prefix /${prefixText} must be an integer from 0 to ${max} for IPv${family}`;
    try {
        new net.BlockList().addSubnet(address, Number(prefixText), family === 4 ? "ipv4" : "ipv6");
    } catch (error) {
        return (error as Error).message;
    }
    return undefined;
}

export function ipProblem(text: string): string | undefined {
    return net.isIP(text) === 0 ? "must be an IPv4 or IPv6 address such as 10.80.12.40" : undefined;
}

export const isIpAddress = (text: string) => net.isIP(text) !== 0;

const BINARY_SI: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL_SI: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/**
 * A Kubernetes quantity as the API server parses it (k8s.io/apimachinery resource.ParseQuantity):
 * <sign><digits>[.<digits>]<suffix>, suffix one of the binary SI (Ki..Ei), decimal SI (n, u, m, "", k, M..E)
 * or a decimal exponent (e3, E-2). Returns the value, or undefined when the API server would reject it.
 */
export function parseQuantity(text: string): number | undefined {
    const match = /^([+-]?)(\d+\.?\d*|\.\d+)(.*)$/.exec(text);
    if (!match) return undefined;
    const [, sign, number, suffix] = match as unknown as [string, string, string, string];
    let factor: number | undefined = BINARY_SI[suffix] ?? DECIMAL_SI[suffix];
    if (factor === undefined) {
        const exponent = /^[eE]([+-]?\d+)$/.exec(suffix);
        if (exponent) factor = 10 ** Number(exponent[1]);
    }
    if (factor === undefined) return undefined;
    return (sign === "-" ? -1 : 1) * Number(number) * factor;
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/**
 * Milliseconds of a Go duration (time.ParseDuration: "1h30m", "90s", "1.5h", "0"), or undefined when Go
 * rejects it ("1d", "15", "1 h").
 */
export function parseGoDuration(text: string): number | undefined {
    let rest = text;
    let sign = 1;
    if (rest.startsWith("-") || rest.startsWith("+")) {
        sign = rest.startsWith("-") ? -1 : 1;
        rest = rest.slice(1);
    }
    if (rest === "0") return 0;
    if (rest === "") return undefined;
    let total = 0;
    while (rest !== "") {
        const match = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
        if (!match) return undefined;
        total += Number(match[1]) * (GO_DURATION_UNITS[match[2] as string] as number);
        rest = rest.slice(match[0].length);
    }
    return sign * total;
}
