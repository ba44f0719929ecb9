/**
 * The FulfillmentContext a DataProvider sends with a direct result (build
 * label, warnings), serialized as the API message; NULL when none was sent.
 */
export const requisitionFulfillmentContextSchema = `
ALTER TABLE requisitions ADD COLUMN fulfillment_context bytea;
`;
