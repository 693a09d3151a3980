// A "world" host that speaks no SATP, for the NAT e2e test (run inside a namespace):
//   bun world.ts http HOST PORT MB MS   serve GET /data: MB MiB of deterministic bytes in 64 KiB
//                                       chunks, one chunk every MS milliseconds
//   bun world.ts udp-echo HOST PORT      echo every datagram back to its sender
//   bun world.ts fetch URL               fetch URL; print {"bytes":N,"sha256":"…","ms":T,"maxGapMs":G}
//                                       (G: the longest wait between two body chunks)
//   bun world.ts udp-burst HOST PORT N MS   send N numbered datagrams every MS ms; print {"sent":N,"echoed":K}
//   bun world.ts expect MB               print the sha256 of what `http` serves for MB
//   bun world.ts tcp-hold HOST PORT N MS open N TCP connections at once, hold them MS ms, close;
//                                       print {"connected":C,"refused":R,"other":O}
import { createHash } from "node:crypto";
import { connect, type Socket } from "node:net";

const [cmd, ...a] = process.argv.slice(2);
const CHUNK = 64 * 1024;
function chunk(i: number): Uint8Array {
  const b = new Uint8Array(CHUNK);
  let x = (i * 2654435761) >>> 0;
  for (let j = 0; j < CHUNK; j++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[j] = x >>> 24;
  }
  return b;
}

if (cmd === "http") {
  const [host, port, mb, ms] = [a[0]!, Number(a[1]), Number(a[2]), Number(a[3])];
  const chunks = (mb * 1024 * 1024) / CHUNK;
  Bun.serve({
    hostname: host,
    port,
    fetch(req, server) {
      console.log(`GET from ${server.requestIP(req)?.address}`);
      let i = 0;
      return new Response(
        new ReadableStream({
          async pull(c) {
            if (i >= chunks) return c.close();
            c.enqueue(chunk(i++));
            await Bun.sleep(ms);
          },
        }),
        { headers: { "content-length": String(chunks * CHUNK) } },
      );
    },
  });
} else if (cmd === "udp-echo") {
  await Bun.udpSocket({
    hostname: a[0]!,
    port: Number(a[1]),
    socket: { data: (s, buf, port, addr) => void s.send(buf, port, addr) },
  });
} else if (cmd === "fetch") {
  const h = createHash("sha256");
  let bytes = 0;
  const t0 = performance.now();
  let last = t0;
  let maxGapMs = 0;
  const r = await fetch(a[0]!);
  for await (const c of r.body!) {
    const now = performance.now();
    if (bytes > 0) maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    h.update(c);
    bytes += c.length;
  }
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ bytes, sha256: h.digest("hex"), ms: Math.round(ms), maxGapMs: Math.round(maxGapMs) }));
} else if (cmd === "udp-burst") {
  const [host, port, n, ms] = [a[0]!, Number(a[1]), Number(a[2]), Number(a[3])];
  const seen = new Set<number>();
  const s = await Bun.udpSocket({ port: 0, socket: { data: (_s, buf) => void seen.add(buf.readUInt32BE(0)) } });
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(64);
    b.writeUInt32BE(i, 0);
    s.send(b, port, host);
    await Bun.sleep(ms);
  }
  await Bun.sleep(500);
  console.log(JSON.stringify({ sent: n, echoed: seen.size }));
  s.close();
} else if (cmd === "expect") {
  const h = createHash("sha256");
  for (let i = 0; i < (Number(a[0]) * 1024 * 1024) / CHUNK; i++) h.update(chunk(i));
  console.log(h.digest("hex"));
} else if (cmd === "tcp-hold") {
  const [host, port, n, ms] = [a[0]!, Number(a[1]), Number(a[2]), Number(a[3])];
  const seen = { connected: 0, refused: 0, other: 0 };
  const socks: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const c = connect({ host, port });
    c.on("connect", () => seen.connected++);
    c.on("error", (e: NodeJS.ErrnoException) =>
      e.code === "ECONNREFUSED" || e.code === "ECONNRESET" ? seen.refused++ : seen.other++,
    );
    socks.push(c);
  }
  await Bun.sleep(ms);
  console.log(JSON.stringify(seen));
  for (const c of socks) c.destroy();
  await Bun.sleep(300);
}
