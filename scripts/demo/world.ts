// The demo's geography: real cloud regions (AWS names, coordinates of the metro area each sits in)
// and real cities to submit tasks from. Coordinates are WGS84 degrees.

/** A region of the demo and the fleet it runs. */
export interface DemoRegion {
  id: string;
  label: string;
  lat: number;
  lon: number;
  continent: string;
  /** Capacity of each node; one node per entry. */
  nodes: number[];
  /** Served by a push endpoint of this capacity instead (examples/push-executor.ts, a process of its own). */
  push?: number;
  /** Nodes whose handlers are slow (x2.5) or flaky (+20% failures), by index. */
  slow?: number[];
  flaky?: number[];
}

export const REGIONS: DemoRegion[] = [
  {
    id: "us-east-1",
    label: "N. Virginia",
    lat: 39.0438,
    lon: -77.4874,
    continent: "North America",
    nodes: [4, 4, 2],
    slow: [2],
  },
  {
    id: "us-west-2",
    label: "Oregon",
    lat: 45.8399,
    lon: -119.7006,
    continent: "North America",
    nodes: [3, 2],
  },
  {
    id: "sa-east-1",
    label: "São Paulo",
    lat: -23.5505,
    lon: -46.6333,
    continent: "South America",
    nodes: [3, 2],
  },
  {
    id: "eu-west-1",
    label: "Ireland",
    lat: 53.3498,
    lon: -6.2603,
    continent: "Europe",
    nodes: [4, 2],
    flaky: [1],
  },
  {
    id: "eu-central-1",
    label: "Frankfurt",
    lat: 50.1109,
    lon: 8.6821,
    continent: "Europe",
    nodes: [4, 3, 3],
  },
  {
    id: "af-south-1",
    label: "Cape Town",
    lat: -33.9249,
    lon: 18.4241,
    continent: "Africa",
    nodes: [2, 2],
    slow: [0],
  },
  {
    id: "ap-south-1",
    label: "Mumbai",
    lat: 19.076,
    lon: 72.8777,
    continent: "Asia",
    nodes: [3, 3],
    flaky: [0],
  },
  { id: "ap-southeast-1", label: "Singapore", lat: 1.3521, lon: 103.8198, continent: "Asia", nodes: [4, 2] },
  {
    id: "ap-northeast-1",
    label: "Tokyo",
    lat: 35.6762,
    lon: 139.6503,
    continent: "Asia",
    nodes: [4, 3, 2],
    slow: [2],
  },
  {
    id: "me-central-1",
    label: "UAE",
    lat: 25.2048,
    lon: 55.2708,
    continent: "Middle East",
    nodes: [],
    push: 8,
  },
  {
    id: "ap-southeast-2",
    label: "Sydney",
    lat: -33.8688,
    lon: 151.2093,
    continent: "Oceania",
    nodes: [3, 2],
  },
];

/** The region whose whole fleet is killed (kill -9) now and then, and comes back. */
export const DYING_REGION = "sa-east-1";

/** Where tasks come from; `weight` is how often (roughly metro population, in millions). */
export interface City {
  name: string;
  lat: number;
  lon: number;
  weight: number;
}

export const CITIES: City[] = [
  { name: "New York", lat: 40.7128, lon: -74.006, weight: 19 },
  { name: "Toronto", lat: 43.6532, lon: -79.3832, weight: 6 },
  { name: "Chicago", lat: 41.8781, lon: -87.6298, weight: 9 },
  { name: "Mexico City", lat: 19.4326, lon: -99.1332, weight: 21 },
  { name: "Los Angeles", lat: 34.0522, lon: -118.2437, weight: 13 },
  { name: "Vancouver", lat: 49.2827, lon: -123.1207, weight: 3 },
  { name: "São Paulo", lat: -23.5505, lon: -46.6333, weight: 22 },
  { name: "Buenos Aires", lat: -34.6037, lon: -58.3816, weight: 15 },
  { name: "Bogotá", lat: 4.711, lon: -74.0721, weight: 11 },
  { name: "Lima", lat: -12.0464, lon: -77.0428, weight: 10 },
  { name: "London", lat: 51.5074, lon: -0.1278, weight: 14 },
  { name: "Paris", lat: 48.8566, lon: 2.3522, weight: 11 },
  { name: "Madrid", lat: 40.4168, lon: -3.7038, weight: 7 },
  { name: "Berlin", lat: 52.52, lon: 13.405, weight: 6 },
  { name: "Warsaw", lat: 52.2297, lon: 21.0122, weight: 3 },
  { name: "Istanbul", lat: 41.0082, lon: 28.9784, weight: 15 },
  { name: "Lagos", lat: 6.5244, lon: 3.3792, weight: 15 },
  { name: "Cairo", lat: 30.0444, lon: 31.2357, weight: 21 },
  { name: "Nairobi", lat: -1.2921, lon: 36.8219, weight: 5 },
  { name: "Johannesburg", lat: -26.2041, lon: 28.0473, weight: 6 },
  { name: "Dubai", lat: 25.2048, lon: 55.2708, weight: 3 },
  { name: "Delhi", lat: 28.7041, lon: 77.1025, weight: 32 },
  { name: "Bengaluru", lat: 12.9716, lon: 77.5946, weight: 13 },
  { name: "Jakarta", lat: -6.2088, lon: 106.8456, weight: 11 },
  { name: "Bangkok", lat: 13.7563, lon: 100.5018, weight: 11 },
  { name: "Manila", lat: 14.5995, lon: 120.9842, weight: 14 },
  { name: "Shanghai", lat: 31.2304, lon: 121.4737, weight: 28 },
  { name: "Seoul", lat: 37.5665, lon: 126.978, weight: 10 },
  { name: "Osaka", lat: 34.6937, lon: 135.5023, weight: 19 },
  { name: "Sydney", lat: -33.8688, lon: 151.2093, weight: 5 },
  { name: "Auckland", lat: -36.8485, lon: 174.7633, weight: 2 },
  { name: "Perth", lat: -31.9505, lon: 115.8605, weight: 2 },
];
