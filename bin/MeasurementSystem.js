#!/usr/bin/env node
import { main } from '../dist/cli/measurement-system.js';

main(process.argv);
