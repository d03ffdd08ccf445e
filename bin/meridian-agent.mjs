#!/usr/bin/env node
// Runs a handler module as a Meridian executor node; see `meridian-agent --help`.
// Needs Node 22.18+ (it loads the SDK's TypeScript sources directly); `npx` in this repo uses the Node 22 it installs.
import { main } from "../src/sdk/cli.ts";

process.exit(await main(process.argv.slice(2), process.env));
