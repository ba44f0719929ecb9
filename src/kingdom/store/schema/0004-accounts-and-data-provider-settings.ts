/**
 * Accounts (upstream's OpenID Connect account flow), MeasurementConsumer
 * owners and creation tokens, and the settings a DataProvider replaces
 * itself (required Duchies, data availability, capabilities).
 *
 * Secrets are kept only as SHA-256: activation tokens and MeasurementConsumer
 * creation tokens. A MeasurementConsumer an Account creates registers no
 * root (upstream's request has none), so a party's root becomes optional for
 * that kind only. Intervals and capabilities are the API messages' bytes, so
 * a field added upstream is kept, never dropped.
 */
export const accountsAndDataProviderSettingsSchema = `
CREATE TABLE accounts (
  account_id bigserial PRIMARY KEY,
  external_account_id bigint NOT NULL CHECK (external_account_id > 0),
  creator_account_id bigint REFERENCES accounts (account_id),
  -- The MeasurementConsumer the account comes to own when it is activated.
  owned_measurement_consumer_id bigint REFERENCES parties (party_id),
  activation_state text NOT NULL CHECK (activation_state IN ('UNACTIVATED', 'ACTIVATED')),
  activation_token_hash bytea NOT NULL,
  open_id_issuer text,
  open_id_subject text,
  create_time timestamptz NOT NULL,
  update_time timestamptz NOT NULL,
  CONSTRAINT accounts_external_id UNIQUE (external_account_id),
  CHECK ((activation_state = 'ACTIVATED') = (open_id_issuer IS NOT NULL AND open_id_subject IS NOT NULL))
);
-- One identity authenticates one account.
CREATE UNIQUE INDEX accounts_open_id_identity ON accounts (open_id_issuer, open_id_subject) WHERE open_id_issuer IS NOT NULL;

CREATE TABLE measurement_consumer_owners (
  account_id bigint NOT NULL REFERENCES accounts (account_id),
  measurement_consumer_id bigint NOT NULL REFERENCES parties (party_id),
  PRIMARY KEY (account_id, measurement_consumer_id)
);

CREATE TABLE measurement_consumer_creation_tokens (
  token_hash bytea PRIMARY KEY,
  create_time timestamptz NOT NULL
);

-- The state and nonce of a self-issued OpenID request, until they expire.
CREATE TABLE open_id_request_params (
  state bigint PRIMARY KEY CHECK (state > 0),
  nonce bigint NOT NULL,
  expire_time timestamptz NOT NULL
);

ALTER TABLE parties ALTER COLUMN root_certificate_der DROP NOT NULL;
ALTER TABLE parties ALTER COLUMN root_subject_key_identifier DROP NOT NULL;
ALTER TABLE parties ADD CONSTRAINT parties_root_required
  CHECK (kind = 'MEASUREMENT_CONSUMER' OR (root_certificate_der IS NOT NULL AND root_subject_key_identifier IS NOT NULL));
ALTER TABLE parties ADD CONSTRAINT parties_root_complete
  CHECK ((root_certificate_der IS NULL) = (root_subject_key_identifier IS NULL));

ALTER TABLE parties ADD COLUMN data_availability_interval bytea;
ALTER TABLE parties ADD COLUMN capabilities bytea;

CREATE TABLE data_provider_required_duchies (
  data_provider_id bigint NOT NULL REFERENCES parties (party_id),
  duchy_id text NOT NULL,
  PRIMARY KEY (data_provider_id, duchy_id)
);

CREATE TABLE data_provider_availability_intervals (
  data_provider_id bigint NOT NULL REFERENCES parties (party_id),
  model_line text NOT NULL,
  data_availability_interval bytea NOT NULL,
  PRIMARY KEY (data_provider_id, model_line)
);
`;
