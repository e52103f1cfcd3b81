/**
 * The machine-wide service layout: where a system install keeps its config file and its data.
 * Both the CLI's path resolution (src/cli/paths.ts) and the systemd unit (src/systemd/unit-file.ts)
 * name these, so they live below both (docs/architecture.md "Layers").
 */
export const SYSTEM_CONFIG_FILE = '/etc/edgehook/edgehook.yaml';
export const SYSTEM_DATA_DIR = '/var/lib/edgehook';
