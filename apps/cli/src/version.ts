/** The CLI's version, alone in its module so `vaultline --version` loads nothing else. */
export const VERSION = '0.1.0';
