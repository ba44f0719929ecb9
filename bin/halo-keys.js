#!/usr/bin/env node
import { main } from '../dist/cli/halo-keys.js';

main(process.argv);
