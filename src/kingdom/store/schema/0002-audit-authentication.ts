/**
 * How the caller of each change authenticated (client certificate SHA-256 and
 * SKID, API key, admin token), beside the actor. Older rows keep NULL and
 * their hashes, which never covered the column.
 */
export const auditAuthenticationSchema = `
ALTER TABLE audit_log ADD COLUMN authentication jsonb;
`;
