/**
 * Request fields of the newer upstream API the Kingdom keeps: the
 * FulfillmentContext a DataProvider sends with a direct result (serialized
 * as the API message; NULL when none was sent), and the request_id that makes
 * CreateEventGroup idempotent per DataProvider.
 */
export const upstreamRequestFieldsSchema = `
ALTER TABLE requisitions ADD COLUMN fulfillment_context bytea;
ALTER TABLE event_groups ADD COLUMN create_request_id text;
CREATE UNIQUE INDEX event_groups_create_request_id ON event_groups (data_provider_id, create_request_id)
  WHERE create_request_id IS NOT NULL;
`;
