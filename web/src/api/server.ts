// What the server is and allows (`GET /v1/server`), read once per page load.
import { api, problemText, type Schemas } from "./client";

export type ServerInfo = Schemas["ServerOut"];

let pending: Promise<ServerInfo> | null = null;

export function serverInfo(): Promise<ServerInfo> {
  pending ??= api.GET("/v1/server").then(({ data, error, response }) => {
    if (!data) {
      pending = null; // a failure is not kept: the next caller asks again
      throw new Error(problemText(error, response));
    }
    return data;
  });
  return pending;
}
