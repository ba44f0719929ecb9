/**
 * The first Kingdom schema. Internal ids (`*_id bigserial`) are private to the
 * database; the API sees the random `external_*_id`s (and Duchy string ids).
 * Protobuf payloads are opaque bytea, kept exactly as received.
 */
export const initialSchema = `
CREATE TABLE parties (
  party_id bigserial PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('DATA_PROVIDER', 'MEASUREMENT_CONSUMER', 'MODEL_PROVIDER', 'DUCHY')),
  external_id bigint CHECK (external_id > 0),
  duchy_id text,
  display_name text NOT NULL DEFAULT '',
  root_certificate_der bytea NOT NULL,
  root_subject_key_identifier bytea NOT NULL,
  -- current public key (DataProvider and MeasurementConsumer only)
  public_key bytea,
  public_key_signature bytea,
  public_key_signature_algorithm_oid text,
  public_key_api_version text,
  public_key_certificate_id bigint,
  create_time timestamptz NOT NULL,
  update_time timestamptz NOT NULL,
  CHECK ((kind = 'DUCHY') = (duchy_id IS NOT NULL)),
  CHECK ((kind = 'DUCHY') = (external_id IS NULL))
);
CREATE UNIQUE INDEX parties_external_id ON parties (kind, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX parties_duchy_id ON parties (duchy_id) WHERE duchy_id IS NOT NULL;
-- A Duchy is recognised by its root's SKID (client AKID), so it must be unambiguous.
CREATE UNIQUE INDEX parties_duchy_root_skid ON parties (root_subject_key_identifier) WHERE kind = 'DUCHY';

CREATE TABLE certificates (
  certificate_id bigserial PRIMARY KEY,
  party_id bigint NOT NULL REFERENCES parties (party_id),
  external_certificate_id bigint NOT NULL CHECK (external_certificate_id > 0),
  subject_key_identifier bytea NOT NULL,
  not_valid_before timestamptz NOT NULL,
  not_valid_after timestamptz NOT NULL,
  revocation_state smallint NOT NULL DEFAULT 0 CHECK (revocation_state IN (0, 1, 2)),
  x509_der bytea NOT NULL,
  create_time timestamptz NOT NULL,
  update_time timestamptz NOT NULL,
  CONSTRAINT certificates_external_id UNIQUE (party_id, external_certificate_id)
);
-- Upstream: one SKID across all owners and owner types.
CREATE UNIQUE INDEX certificates_subject_key_identifier ON certificates (subject_key_identifier);
CREATE INDEX certificates_by_owner_order ON certificates (party_id, not_valid_before DESC, external_certificate_id);

ALTER TABLE parties ADD CONSTRAINT parties_public_key_certificate
  FOREIGN KEY (public_key_certificate_id) REFERENCES certificates (certificate_id);

CREATE TABLE event_groups (
  event_group_id bigserial PRIMARY KEY,
  data_provider_id bigint NOT NULL REFERENCES parties (party_id),
  external_event_group_id bigint NOT NULL CHECK (external_event_group_id > 0),
  measurement_consumer_id bigint NOT NULL REFERENCES parties (party_id),
  event_group_reference_id text NOT NULL DEFAULT '',
  encrypted_metadata bytea,
  measurement_consumer_public_key bytea,
  api_version text NOT NULL DEFAULT '',
  details bytea NOT NULL DEFAULT '\\x',
  state text NOT NULL CHECK (state IN ('ACTIVE', 'DELETED')),
  revision bigint NOT NULL DEFAULT 1,
  create_time timestamptz NOT NULL,
  update_time timestamptz NOT NULL,
  CONSTRAINT event_groups_external_id UNIQUE (data_provider_id, external_event_group_id)
);
CREATE INDEX event_groups_by_consumer ON event_groups (measurement_consumer_id, data_provider_id, external_event_group_id);

CREATE TABLE event_group_metadata_reencryption_requests (
  request_id bigserial PRIMARY KEY,
  external_request_id bigint NOT NULL UNIQUE CHECK (external_request_id > 0),
  event_group_id bigint NOT NULL REFERENCES event_groups (event_group_id),
  measurement_consumer_key_fingerprint bytea NOT NULL,
  state text NOT NULL CHECK (state IN ('OPEN', 'CLOSED')),
  create_time timestamptz NOT NULL,
  close_time timestamptz
);
CREATE UNIQUE INDEX reencryption_requests_one_open
  ON event_group_metadata_reencryption_requests (event_group_id, measurement_consumer_key_fingerprint)
  WHERE state = 'OPEN';

CREATE TABLE measurements (
  measurement_id bigserial PRIMARY KEY,
  measurement_consumer_id bigint NOT NULL REFERENCES parties (party_id),
  external_measurement_id bigint NOT NULL CHECK (external_measurement_id > 0),
  measurement_consumer_certificate_id bigint NOT NULL REFERENCES certificates (certificate_id),
  measurement_spec bytea NOT NULL,
  state text NOT NULL CHECK (state IN ('AWAITING_REQUISITION_FULFILLMENT', 'COMPUTING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  failure_reason text,
  failure_message text,
  measurement_reference_id text NOT NULL DEFAULT '',
  api_version text NOT NULL DEFAULT '',
  details bytea NOT NULL DEFAULT '\\x',
  create_request_id text,
  create_time timestamptz NOT NULL,
  update_time timestamptz NOT NULL,
  CONSTRAINT measurements_external_id UNIQUE (measurement_consumer_id, external_measurement_id)
);
CREATE UNIQUE INDEX measurements_create_request_id ON measurements (measurement_consumer_id, create_request_id)
  WHERE create_request_id IS NOT NULL;
CREATE INDEX measurements_pending_by_consumer_certificate ON measurements (measurement_consumer_certificate_id)
  WHERE state IN ('AWAITING_REQUISITION_FULFILLMENT', 'COMPUTING');

CREATE TABLE requisitions (
  requisition_id bigserial PRIMARY KEY,
  measurement_id bigint NOT NULL REFERENCES measurements (measurement_id),
  data_provider_id bigint NOT NULL REFERENCES parties (party_id),
  external_requisition_id bigint NOT NULL CHECK (external_requisition_id > 0),
  entry_index integer NOT NULL,
  data_provider_certificate_id bigint NOT NULL REFERENCES certificates (certificate_id),
  data_provider_public_key bytea NOT NULL,
  encrypted_requisition_spec bytea NOT NULL,
  nonce_hash bytea NOT NULL,
  state text NOT NULL CHECK (state IN ('UNFULFILLED', 'FULFILLED', 'REFUSED', 'WITHDRAWN')),
  fulfilling_certificate_id bigint REFERENCES certificates (certificate_id),
  encrypted_result bytea,
  nonce bigint,
  refusal_justification integer,
  refusal_message text,
  create_time timestamptz NOT NULL,
  update_time timestamptz NOT NULL,
  CONSTRAINT requisitions_external_id UNIQUE (data_provider_id, external_requisition_id),
  CONSTRAINT requisitions_one_per_data_provider UNIQUE (measurement_id, data_provider_id)
);
CREATE INDEX requisitions_by_certificate ON requisitions (data_provider_certificate_id) WHERE state = 'UNFULFILLED';

CREATE TABLE measurement_results (
  measurement_id bigint NOT NULL REFERENCES measurements (measurement_id),
  result_index integer NOT NULL,
  certificate_id bigint NOT NULL REFERENCES certificates (certificate_id),
  encrypted_result bytea NOT NULL,
  PRIMARY KEY (measurement_id, result_index)
);
CREATE INDEX measurement_results_by_certificate ON measurement_results (certificate_id);

CREATE TABLE api_keys (
  api_key_id bigserial PRIMARY KEY,
  measurement_consumer_id bigint NOT NULL REFERENCES parties (party_id),
  external_api_key_id bigint NOT NULL CHECK (external_api_key_id > 0),
  nickname text NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  authentication_key_hash bytea NOT NULL UNIQUE,
  create_time timestamptz NOT NULL,
  CONSTRAINT api_keys_external_id UNIQUE (measurement_consumer_id, external_api_key_id)
);

CREATE TABLE akid_principals (
  authority_key_identifier bytea PRIMARY KEY,
  principal_resource_name text NOT NULL,
  create_time timestamptz NOT NULL
);

CREATE TABLE audit_log (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  time timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  resource text NOT NULL,
  before jsonb,
  after jsonb,
  prev_hash bytea NOT NULL,
  hash bytea NOT NULL
);
`;
