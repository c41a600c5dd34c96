import { isIPv4 } from 'node:net'

/**
 * The address a limit counts a client by: an IPv4 address as it is, an IPv6 address by its /64.
 * One IPv6 subscriber is usually handed a whole /64, so counting single addresses would give an
 * attacker 2^64 fresh clients.
 */
export function clientAddressKey(ip: string): string {
  if (!ip.includes(':')) return ip
  const groups = ipv6Groups(ip)
  if (groups === undefined) return ip
  // An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 client.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6)
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address (zone dropped), or undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  const text = address.split('%')[0] ?? ''
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const parse = (part: string): number[] | undefined => {
    if (part === '') return []
    const groups: number[] = []
    for (const piece of part.split(':')) {
      if (isIPv4(piece)) {
        const [a = 0, b = 0, c = 0, d = 0] = piece.split('.').map(Number)
        groups.push((a << 8) | b, (c << 8) | d)
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) groups.push(Number.parseInt(piece, 16))
      else return undefined
    }
    return groups
  }
  const head = parse(halves[0] ?? '')
  const tail = halves.length === 2 ? parse(halves[1] ?? '') : []
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  return [...head, ...new Array<number>(missing).fill(0), ...tail]
}
