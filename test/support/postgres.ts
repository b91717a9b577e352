import pg from 'pg';

const ADMIN_URLS = ['postgres://postgres@127.0.0.1:5432/postgres', 'postgres://root@127.0.0.1:5432/postgres'];

/** A fresh PostgreSQL database for this test run, dropped after. Missing server: loud skip, CI failure. */
export class TestDatabase {
  private constructor(
    private readonly adminUrl: string,
    readonly name: string,
  ) {}

  get url(): string {
    return this.adminUrl.replace(/\/postgres$/, `/${this.name}`);
  }

  static async create(): Promise<TestDatabase | undefined> {
    for (const adminUrl of ADMIN_URLS) {
      const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
      try {
        await client.connect();
        const name = `hubbub_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
        await client.query(`CREATE DATABASE ${name}`);
        return new TestDatabase(adminUrl, name);
      } catch {
        // try the next user
      } finally {
        await client.end().catch(() => {});
      }
    }
    if (process.env.CI) throw new Error('PostgreSQL on 127.0.0.1:5432 is not reachable');
    console.warn('\n*** SKIPPING PostgreSQL tests: no server on 127.0.0.1:5432 ***\n');
    return undefined;
  }

  async query(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      return await client.query(sql, params);
    } finally {
      await client.end();
    }
  }

  /** A statement on the server's maintenance database (e.g. ALTER DATABASE on this one). */
  async adminQuery(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      return await client.query(sql, params);
    } finally {
      await client.end();
    }
  }

  async drop(): Promise<void> {
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
}
