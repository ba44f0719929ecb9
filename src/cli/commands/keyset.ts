import type { Command } from 'commander';

export function registerKeysetCommands(_program: Command): void {}
