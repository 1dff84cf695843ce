// The transcript list's room filter: the rooms the caller sees, by name. Shown only when there
// are rooms (or the address already names one).
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Room } from "../api/rooms";

export function RoomFilter(props: {
  value: string;
  disabled: boolean;
  describedBy?: string;
  onChange: (roomId: string) => void;
}) {
  const { value, disabled, describedBy, onChange } = props;
  const [rooms, setRooms] = useState<Room[] | null>(null);

  useEffect(() => {
    api.GET("/v1/rooms", { params: { query: { page: 1, size: 200 } } }).then(
      ({ data }) => setRooms(data?.items ?? []),
      () => setRooms([]),
    );
  }, []);

  if (!rooms || (rooms.length === 0 && !value)) return null;
  const known = rooms.some((room) => room.id === value);
  return (
    <div class="field">
      <label for="room-filter">Room</label>
      <select
        id="room-filter"
        value={value}
        disabled={disabled}
        aria-describedby={describedBy}
        onChange={(event) => onChange(event.currentTarget.value)}
      >
        <option value="">Any room</option>
        {value && !known && <option value={value}>A room you no longer see</option>}
        {rooms.map((room) => (
          <option key={room.id} value={room.id}>
            {room.name}
          </option>
        ))}
      </select>
    </div>
  );
}
