import { connect } from 'node:net'

/** The Redis the tests use (CI starts it; elsewhere tests that need it skip). */
export const TEST_REDIS_URL = 'redis://127.0.0.1:6379'

/** True when something accepts connections at the test Redis's address. */
export function redisAvailable(): Promise<boolean> {
  const { hostname, port } = new URL(TEST_REDIS_URL)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
