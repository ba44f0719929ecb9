/**
 * ListEventGroups returns a MeasurementConsumer's groups in (DataProvider
 * external id, EventGroup external id) order, the order its page tokens name.
 * An index can give that order only if the DataProvider's external id is on
 * the row, so it is copied there (a party's external id never changes) and
 * indexed after the MeasurementConsumer; that index replaces the one ordered
 * by the internal DataProvider id, which no list could use without sorting
 * every group of the MeasurementConsumer.
 */
export const eventGroupListOrderSchema = `
ALTER TABLE event_groups ADD COLUMN data_provider_external_id bigint;
UPDATE event_groups eg SET data_provider_external_id = dp.external_id FROM parties dp WHERE dp.party_id = eg.data_provider_id;
ALTER TABLE event_groups ALTER COLUMN data_provider_external_id SET NOT NULL;
CREATE INDEX event_groups_by_consumer_in_list_order
  ON event_groups (measurement_consumer_id, data_provider_external_id, external_event_group_id);
DROP INDEX event_groups_by_consumer;
`;
