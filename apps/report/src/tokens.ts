/** Injection tokens of the report module. */
export const REPORT_CONFIG = Symbol('REPORT_CONFIG');
export const LOGGER = Symbol('LOGGER');
