// Built-in plugins by the name a config's `use` gives. The chain order is the config's order;
// this list only says what exists (static, so a compiled single binary contains them).
import type { Builtins } from "../src/pipeline.ts";
import dns from "./dns/index.ts";
import local from "./local.ts";
import nat from "./nat/index.ts";
import ping from "./ping.ts";
import relay from "./relay.ts";
import routes from "./routes.ts";

export const BUILTIN: Builtins = { dns, local, nat, ping, relay, routes };
