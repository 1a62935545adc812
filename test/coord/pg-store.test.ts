import { openPgStore } from '../../backends/coord/pg-store.js';
import { describePg, freshSchema, useTestDatabase } from '../helpers/pg.js';
import { storeContract } from './contract.js';

describePg('PostgreSQL coordination store', () => {
  const database = useTestDatabase('coord');
  // Each store of the contract gets a fresh schema in this file's database.
  storeContract('postgres', (options, runtime) => openPgStore({ url: database.url, schema: freshSchema(), max: 4 }, options, runtime));
});
