// The e2e nodes' image store (e2e/node/imageStore.ts): a node's containerd root shares the store's files, except the
// bolt databases containerd writes in place; the store's key follows the archives.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { copyImageStore, imageStoreDir } from "../e2e/node/imageStore";

describe("the e2e nodes' image store", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "image-store-test-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** A store as containerd leaves it: a blob, a committed layer, and the two bolt databases one level down. */
    const makeStore = () => {
        const store = path.join(dir, "store");
        const files: Record<string, string> = {
            "io.containerd.content.v1.content/blobs/sha256/abc": "blob",
            "io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs/usr/bin/psql": "layer file",
            "io.containerd.snapshotter.v1.overlayfs/metadata.db": "snapshots db",
            "io.containerd.metadata.v1.bolt/meta.db": "meta db",
        };
        for (const [file, content] of Object.entries(files)) {
            fs.mkdirSync(path.dirname(path.join(store, file)), { recursive: true });
            fs.writeFileSync(path.join(store, file), content);
        }
        return store;
    };

    test("blobs and layers are hard links; meta.db and the snapshotter's metadata.db are copies a node may write", () => {
        const store = makeStore();
        const root = path.join(dir, "node-root");
        expect(copyImageStore(store, root)).toBe("linked");
        const inode = (base: string, file: string) => fs.statSync(path.join(base, file)).ino;
        for (const shared of ["io.containerd.content.v1.content/blobs/sha256/abc", "io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs/usr/bin/psql"]) {
            expect(inode(root, shared)).toBe(inode(store, shared));
        }
        for (const db of ["io.containerd.snapshotter.v1.overlayfs/metadata.db", "io.containerd.metadata.v1.bolt/meta.db"]) {
            expect(inode(root, db)).not.toBe(inode(store, db));
            fs.writeFileSync(path.join(root, db), "written by the node");
            expect(fs.readFileSync(path.join(store, db), "utf8")).not.toBe("written by the node");
        }
    });

    test("the store's directory changes when an archive is rebuilt", () => {
        const archive = path.join(dir, "psql.oci.tar");
        fs.writeFileSync(archive, "v1");
        const spec = { images: { psql: { ref: "synergyflow.local/psql:17.12", file: archive } }, containerd: "/bin/true" };
        const before = imageStoreDir(path.join(dir, "cache"), spec);
        expect(imageStoreDir(path.join(dir, "cache"), spec)).toBe(before);
        fs.writeFileSync(archive, "v2, rebuilt");
        expect(imageStoreDir(path.join(dir, "cache"), spec)).not.toBe(before);
    });
});
