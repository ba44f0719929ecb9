#!/usr/bin/env node
import { main } from '../dist/cli/encryption-public-keys.js';

main(process.argv);
