/** This SDK's name and version, sent in `connect` for the server's logs and dashboard. */
export const CLIENT_NAME = '@tidings/client';
export const CLIENT_VERSION = '0.1.0';
