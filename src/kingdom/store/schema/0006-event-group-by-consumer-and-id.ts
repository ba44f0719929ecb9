/**
 * GetEventGroup by `measurementConsumers/{mc}/eventGroups/{eg}` knows the
 * MeasurementConsumer and the EventGroup id but not the DataProvider, and an
 * EventGroup id is unique only per DataProvider. The list-order index puts
 * the DataProvider before the EventGroup id, so it would be read through all
 * of the MeasurementConsumer's groups; this one finds the group directly, the
 * DataProvider last so that groups of several DataProviders sharing the id
 * come out in list order.
 */
export const eventGroupByConsumerAndIdSchema = `
CREATE INDEX event_groups_by_consumer_and_id
  ON event_groups (measurement_consumer_id, external_event_group_id, data_provider_external_id);
`;
