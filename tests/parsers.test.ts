import { cidrProblem, ipProblem, parseGoDuration, parseQuantity } from "../components/model/parsers";

describe("parsers accept what the target system accepts", () => {
    test("CIDRs and addresses (Node's net)", () => {
        for (const ok of ["10.0.0.0/8", "10.81.20.0/24", "0.0.0.0/0", "fd00:81::/64", "::/0"]) expect(cidrProblem(ok)).toBeUndefined();
        expect(cidrProblem("10.300.0.0/16")).toBe(`"10.300.0.0" is not an IPv4 or IPv6 address`);
        expect(cidrProblem("10.0.0.0/33")).toBe("prefix /33 must be an integer from 0 to 32 for IPv4");
        expect(cidrProblem("fd00::/129")).toBe("prefix /129 must be an integer from 0 to 128 for IPv6");
        expect(cidrProblem("10.0.0.0")).toContain("address/prefix");
        expect(ipProblem("10.80.12.400")).toBeDefined();
        expect(ipProblem("10.80.12.40")).toBeUndefined();
    });

    test("Kubernetes quantities (the API server's grammar)", () => {
        expect(parseQuantity("1G")).toBe(1e9);
        expect(parseQuantity("1500M")).toBe(1.5e9);
        expect(parseQuantity("0.5")).toBe(0.5);
        expect(parseQuantity("100m")).toBeCloseTo(0.1);
        expect(parseQuantity("256Mi")).toBe(256 * 2 ** 20);
        expect(parseQuantity("1e3")).toBe(1000);
        expect(parseQuantity(".5")).toBe(0.5);
        for (const bad of ["1 Gi", "1GB", "Mi", "1.2.3", "ten", ""]) expect(parseQuantity(bad)).toBeUndefined();
    });

    test("Go durations (time.ParseDuration, what ESO reads refreshInterval with)", () => {
        expect(parseGoDuration("1h30m")).toBe(5400e3);
        expect(parseGoDuration("90s")).toBe(90e3);
        expect(parseGoDuration("1.5h")).toBe(5400e3);
        expect(parseGoDuration("0")).toBe(0);
        expect(parseGoDuration("300ms")).toBe(300);
        for (const bad of ["1d", "15", "1 h", "h", "", "1h-30m"]) expect(parseGoDuration(bad)).toBeUndefined();
    });
});
